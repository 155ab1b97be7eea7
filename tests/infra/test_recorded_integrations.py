"""The state machine reads integration outputs in the shapes AWS returns (tests/aws_recorded/).

Each Task state's ResultSelector is evaluated on an output recorded on real AWS for its
integration, and on the output the local cloud's executor gives: a path the real output lacks is
`States.Runtime` on AWS (which no `States.ALL` catcher catches), so it fails here first.
"""

import json
import re
from pathlib import Path

import pytest
from jsonpath_ng.ext import parse

from deployment.definition import load_definition, state_machines, walk
from localcloud.executors import lambda_invoke_output
from localcloud.tasks import RegisteredTask, _StoppedTask

RECORDED = Path(__file__).resolve().parents[1] / "aws_recorded"
# integration (as the state's Resource ends) -> (recorded file, resourceType, resource)
RECORDINGS = {
    "lambda:invoke": ("lambda", "lambda", "invoke"),
    "ecs:runTask.sync": ("ecs", "ecs", "runTask.sync"),
    "sns:publish": ("sns", "sns", "publish"),
    "dynamodb:deleteItem": ("dynamodb", "dynamodb", "deleteItem"),
    "aws-sdk:s3:getObject": ("aws_sdk", "aws-sdk:s3", "getObject"),
}
# No recording of Athena's .sync integration is held; its output is GetQueryExecution's response.
NOT_RECORDED = {"athena:startQueryExecution.sync"}


def recorded_outputs(integration: str) -> list[dict]:
    file, resource_type, resource = RECORDINGS[integration]
    recording = json.loads((RECORDED / f"stepfunctions__v2__services__test_{file}_task_service.snapshot.json").read_text())
    outputs = []
    for case in recording.values():
        for event in case["recorded-content"].get("get_execution_history", {}).get("events", []):
            details = event.get("taskSucceededEventDetails") or {}
            if details.get("resourceType") == resource_type and details.get("resource") == resource:
                outputs.append(details["output"])
    return outputs


def local_output(integration: str, payload: dict) -> dict | None:
    """What the local cloud's own executor answers (None: moto's own integration answers)."""
    if integration == "lambda:invoke":
        return lambda_invoke_output(payload)
    if integration == "ecs:runTask.sync":
        task = RegisteredTask(arn="arn:aws:ecs:us-east-1:000000000000:task-definition/Training:3", family="Training",
                              container_name="ml", cpu="2048", image="engagement-ml:local", command=["train"],
                              environment={}, memory_mb=8192)
        stopped = _StoppedTask(task, "arn:aws:ecs:us-east-1:000000000000:cluster/c", {})
        return stopped.description("EssentialContainerExited", "Essential container in task exited", exit_code=0)
    return None


def selector_paths(selector: dict) -> list[str]:
    """The JSONPaths a ResultSelector reads (an intrinsic function's path arguments too)."""
    paths = []
    for key, value in selector.items():
        if isinstance(value, dict):
            paths += selector_paths(value)
        elif key.endswith(".$"):
            paths += re.findall(r"\$[\w.\[\]]*", value) if value.startswith("States.") else [value]
    return paths


@pytest.fixture(scope="module")
def task_states(synthesized) -> list[tuple[str, str, dict]]:
    [machine] = state_machines(synthesized.raw_templates[synthesized.platform.pipeline.stack_name]).values()
    return [(name, str(state["Resource"]).partition(":states:::")[2], state)
            for _, name, state in walk(load_definition(machine)) if state["Type"] == "Task"]


def test_every_integration_the_machine_uses_is_recorded(task_states):
    used = {integration for _, integration, _ in task_states}
    assert used - NOT_RECORDED <= set(RECORDINGS), used - NOT_RECORDED - set(RECORDINGS)
    for integration in used - NOT_RECORDED:
        assert recorded_outputs(integration), f"no recorded output of {integration}"


def test_each_result_selector_reads_what_aws_returns_and_what_the_local_cloud_returns(task_states):
    checked = 0
    for name, integration, state in task_states:
        paths = selector_paths(state.get("ResultSelector", {}))
        if integration in NOT_RECORDED or not paths:
            continue
        # A function's result is the app's own: Payload holds the fields the state picks.
        payload = {path.removeprefix("$.Payload.").split(".")[0]: 1 for path in paths if path.startswith("$.Payload.")}
        outputs = [{**output, "Payload": payload} if "Payload" in output else output
                   for output in recorded_outputs(integration)[:1]]
        local = local_output(integration, payload)
        for label, output in [("recorded", o) for o in outputs] + ([("local", local)] if local else []):
            for path in paths:
                assert parse(path).find(output), f"{name}: {path} is not in {integration}'s {label} output"
        checked += 1
    assert checked >= 10


def test_the_local_executors_answer_with_the_recorded_fields():
    for integration in ("lambda:invoke", "ecs:runTask.sync"):
        [recorded, *_] = recorded_outputs(integration)
        local = local_output(integration, {})
        assert set(local) <= set(recorded), set(local) - set(recorded)
        for essential in ("TaskArn", "LastStatus", "StopCode", "Containers") if integration.startswith("ecs") else (
                "ExecutedVersion", "Payload", "StatusCode", "SdkHttpMetadata", "SdkResponseMetadata"):
            assert essential in local, (integration, essential)
