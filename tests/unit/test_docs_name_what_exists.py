"""A doc that names a setting, a file or a resource type the code does not have fails the suite:
every `-c key=value` names a key of app.py's CONTEXT (stacks/context.py), every repository path written in backticks
exists, and every CloudFormation type named is one the app declares or a doc explains it lacks."""

import re
from pathlib import Path

import pytest

from stacks.context import CONTEXT
from tools.settings_doc import BEGIN, END, table

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "ml_container" / "README.md"]
TOP_LEVEL = ("app.py", "Makefile", "cdk.json", "bench/", "constructs/", "cost/", "datagen/", "deployment/", "docs/",
             "localcloud/", "ml_container/", "planner/", "runtime/", "sql/", "stacks/", "tests/", "tools/")


def settings_named(text: str) -> set[str]:
    return set(re.findall(r"-c\s+([A-Za-z][A-Za-z0-9]*)=", text))


def paths_named(text: str) -> set[str]:
    """Repository paths in backticks: `runtime/engagement/ingest.py`, `sql/…`, `planner/parse.py::f`."""
    found = set()
    for quoted in re.findall(r"`([^`\s]+)`", text):
        path = quoted.split("::")[0].rstrip(".,:;")
        if path.startswith(TOP_LEVEL) and not any(c in path for c in "*<>{}$…") and "=" not in path:
            found.add(path)
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_setting_a_doc_names_is_a_context_key(doc):
    unknown = settings_named(doc.read_text()) - set(CONTEXT)
    assert not unknown, f"{doc.name} names settings app.py does not read: {sorted(unknown)}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_path_a_doc_names_exists(doc):
    missing = sorted(path for path in paths_named(doc.read_text()) if not (REPO / path).exists())
    assert not missing, f"{doc.name} names files that do not exist: {missing}"


def test_the_checks_fail_on_a_setting_or_file_that_is_gone():
    without = {key: setting for key, setting in CONTEXT.items() if key != "shardRows"}
    assert settings_named("cdk deploy -c shardRows=100000") - set(without) == {"shardRows"}
    assert paths_named("see `planner/parse.py::parse` and `runtime/engagement/gone.py`") == {
        "planner/parse.py", "runtime/engagement/gone.py"}


def test_the_readme_settings_table_is_generated_from_the_context_table():
    readme = (REPO / "README.md").read_text()
    assert readme.split(BEGIN)[1].split(END)[0].strip() == table(), "README.md's settings table is stale: make docs"
    listed = set(re.findall(r"^\| `([A-Za-z0-9]+)` \|", table(), re.MULTILINE))
    assert listed == set(CONTEXT) and "| `shardRows` | 250000 |" in table()
