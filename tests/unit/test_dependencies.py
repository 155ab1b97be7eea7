"""Dependencies point one way: the product and its tools never reach into the emulator, the stacks
never into the cost tooling, the neutral readers of the synthesized app into none of them, and the
emulator into no product module."""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "deployment": {"cost", "tools", "stacks", "constructs", "localcloud", "engagement", "planner"},
    "cost": {"localcloud", "stacks", "constructs"},
    "tools": {"localcloud"},
    "stacks": {"cost", "tools", "localcloud"},
    "constructs": {"cost", "tools", "localcloud"},
    "runtime": {"cost", "tools", "localcloud", "stacks", "constructs", "deployment"},
    "ml_container": {"cost", "tools", "localcloud", "stacks", "constructs", "deployment"},
    # The local cloud knows clouds, not this product: the product's command line composes the two.
    "localcloud": {"engagement", "engagement_ml", "engagement_cli", "datagen", "planner", "stacks", "constructs",
                   "cost", "tools", "sql"},
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_imports_nothing_it_must_not(package):
    wrong = {str(path.relative_to(REPO)): sorted(imported_packages(path) & FORBIDDEN[package])
             for path in (REPO / package).rglob("*.py") if "__pycache__" not in path.parts}
    assert not {path: names for path, names in wrong.items() if names}
