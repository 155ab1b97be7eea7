"""Reading the cloud assembly: deployment order and clear errors."""

import json

import pytest

from deployment.assembly import AssemblyError, read_stacks


def write_assembly(directory, dependencies: dict[str, list[str]]):
    artifacts = {}
    for name, depends_on in dependencies.items():
        (directory / f"{name}.template.json").write_text(json.dumps({"Resources": {}}))
        artifacts[name] = {
            "type": "aws:cloudformation:stack",
            "properties": {"templateFile": f"{name}.template.json"},
            "dependencies": [*depends_on, f"{name}.assets"],
        }
        artifacts[f"{name}.assets"] = {"type": "cdk:asset-manifest", "properties": {}}
    (directory / "manifest.json").write_text(json.dumps({"artifacts": artifacts}))


def test_stacks_come_after_the_stacks_they_depend_on(tmp_path):
    write_assembly(tmp_path, {"Api": ["Pipeline", "Data"], "Pipeline": ["Data"], "Data": []})
    assert [stack.name for stack in read_stacks(tmp_path)] == ["Data", "Pipeline", "Api"]


def test_a_dependency_cycle_is_reported(tmp_path):
    write_assembly(tmp_path, {"A": ["B"], "B": ["A"]})
    with pytest.raises(AssemblyError, match="cycle: A -> B -> A"):
        read_stacks(tmp_path)
