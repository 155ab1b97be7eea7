"""Local executors for the three integrations moto's ASL interpreter cannot run as the app needs.

They plug into `state_task_service_for` (the interpreter's factory): `lambda:invoke` runs the
handler from the synthesized asset in a subprocess, `ecs:runTask.sync` runs the task
definition's container command in a subprocess, `athena:startQueryExecution.sync` runs the
statement on DuckDB. Everything else (SNS, the aws-sdk S3 read) stays moto's own.
"""

import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_factory as factory
from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (
    StateTaskService,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
    StateTaskServiceAwsSdk,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

REPO = Path(__file__).resolve().parent.parent
QUOTE = "@@Q@@"  # stands in for an escaped quote inside States.Format (see cloud._without_escaped_quotes)
LAMBDA_RUNNER = (
    "import importlib, json, sys\n"
    "module, function = sys.argv[1].rsplit('.', 1)\n"
    "class Context:\n"
    "    function_name = sys.argv[2]; memory_limit_in_mb = 1024; aws_request_id = 'local'\n"
    "    invoked_function_arn = 'arn:aws:lambda:us-east-1:123456789012:function:' + sys.argv[2]\n"
    "result = getattr(importlib.import_module(module), function)(json.load(sys.stdin), Context())\n"
    "print('@@RESULT@@' + json.dumps(result, default=str))\n"
)


@dataclass
class LocalFunction:
    name: str
    handler: str
    code_dir: Path
    environment: dict[str, str]


@dataclass
class LocalTask:
    command: list[str]
    environment: dict[str, str]


@dataclass
class Registry:
    """What the executors run, filled by the deployment from the templates."""

    functions: dict[str, LocalFunction] = field(default_factory=dict)  # by ARN and by name
    tasks: dict[str, LocalTask] = field(default_factory=dict)  # by task definition ARN
    athena: object = None  # AthenaOnDuckDB
    base_environment: dict[str, str] = field(default_factory=dict)  # endpoint, credentials, region
    log_dir: Path = Path(".localcloud/logs")


REGISTRY = Registry()
ATHENA_LOCK = threading.Lock()


class _LocalService(StateTaskService):
    def _get_supported_parameters(self):
        return set()

    def _validate_service_integration_is_supported(self):
        pass

    def _normalise_parameters(self, parameters, boto_service_name=None, service_action_name=None):
        pass

    def _normalise_response(self, response, boto_service_name=None, service_action_name=None):
        pass

    def _fail(self, env, error: str, cause: str):
        raise FailureEventException(failure_event=FailureEvent(
            env=env, error_name=CustomErrorName(error), event_type=HistoryEventType.TaskFailed,
            event_details=EventDetails(taskFailedEventDetails=TaskFailedEventDetails(
                error=error, cause=cause[-30_000:], resource=self._get_sfn_resource(),
                resourceType=self._get_sfn_resource_type())),
        ))

    def _run(self, env, label: str, argv: list[str], environment: dict[str, str], stdin: str = "") -> str:
        REGISTRY.log_dir.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=environment, cwd=str(REPO))
        (REGISTRY.log_dir / f"{label}.log").write_text(result.stdout + result.stderr)
        if result.returncode != 0:
            return self._fail(env, *self._error_of(result.stderr or result.stdout))
        return result.stdout

    @staticmethod
    def _error_of(output: str) -> tuple[str, str]:
        """(error name, cause): the exception class of the last traceback line, like Lambda reports it."""
        last = [line for line in output.strip().splitlines() if line.strip()][-1:] or ["failed"]
        name = last[0].split(":", 1)[0].rsplit(".", 1)[-1].strip()
        return (name if name and name.replace("_", "").isalnum() else "TaskFailed"), output.strip()[-4000:]


class LocalLambda(_LocalService):
    def _eval_service_task(self, env, resource_runtime_part, normalised_parameters, state_credentials):
        name = normalised_parameters["FunctionName"]
        function = REGISTRY.functions.get(name) or REGISTRY.functions.get(name.split(":")[-1])
        if function is None:
            return self._fail(env, "Lambda.ResourceNotFoundException", f"no local function {name}")
        environment = {**os.environ, **REGISTRY.base_environment, **function.environment,
                       "PYTHONPATH": str(function.code_dir), "POWERTOOLS_TRACE_DISABLED": "true"}
        output = self._run(env, function.name, [sys.executable, "-c", LAMBDA_RUNNER, function.handler, function.name],
                           environment, stdin=json.dumps(normalised_parameters.get("Payload", {})))
        [marker] = [line for line in output.splitlines() if line.startswith("@@RESULT@@")]
        env.stack.append({"ExecutedVersion": "$LATEST", "StatusCode": 200,
                          "Payload": json.loads(marker[len("@@RESULT@@"):])})


class LocalEcs(_LocalService):
    def _eval_service_task(self, env, resource_runtime_part, normalised_parameters, state_credentials):
        task = REGISTRY.tasks.get(normalised_parameters["TaskDefinition"])
        if task is None:
            return self._fail(env, "ECS.ClientException", f"no local task {normalised_parameters['TaskDefinition']}")
        overrides = normalised_parameters.get("Overrides", {}).get("ContainerOverrides", [{}])[0]
        environment = {**os.environ, **REGISTRY.base_environment, **task.environment,
                       **{e["Name"]: e["Value"] for e in overrides.get("Environment", [])}}
        self._run(env, f"ecs-{task.command[-1]}", [sys.executable, "-m", "engagement_ml", *task.command], environment)
        env.stack.append({"Tasks": [{"LastStatus": "STOPPED", "Containers": [{"ExitCode": 0}]}]})


class LocalAwsSdk(StateTaskServiceAwsSdk):
    """moto's aws-sdk integration returns S3 object bodies as streams it cannot serialize; read
    them as text, as Step Functions does. Other SDK calls are moto's own."""

    def _eval_service_task(self, env, resource_runtime_part, normalised_parameters, state_credentials):
        if (self.resource.api_name, self.resource.api_action) != ("s3", "getObject"):
            return super()._eval_service_task(env, resource_runtime_part, normalised_parameters, state_credentials)
        import boto3

        base = REGISTRY.base_environment
        s3 = boto3.client("s3", endpoint_url=base["AWS_ENDPOINT_URL"], region_name=base["AWS_DEFAULT_REGION"],
                          aws_access_key_id="local", aws_secret_access_key="local")
        try:
            response = s3.get_object(Bucket=normalised_parameters["Bucket"], Key=normalised_parameters["Key"])
        except s3.exceptions.NoSuchKey as error:
            return _LocalService._fail(self, env, "S3.NoSuchKeyException", str(error))
        env.stack.append({"Body": response["Body"].read().decode(), "ContentType": response.get("ContentType")})


class LocalAthena(_LocalService):
    def _eval_service_task(self, env, resource_runtime_part, normalised_parameters, state_credentials):
        from localcloud.athena_duckdb import AthenaSqlError

        query = normalised_parameters["QueryString"].replace(QUOTE, "'")
        try:
            with ATHENA_LOCK:  # Parallel branches run in threads; one DuckDB and one S3 mirror serve them all
                REGISTRY.athena.execute(query)
        except AthenaSqlError as error:
            REGISTRY.log_dir.mkdir(parents=True, exist_ok=True)
            (REGISTRY.log_dir / "athena-failed.sql").write_text(f"-- {error}\n{query}\n")
            return self._fail(env, "Athena.AthenaException", f"{error} — query: {query[:600]}")
        env.stack.append({"QueryExecution": {"Status": {"State": "SUCCEEDED"}}})


_original = factory.state_task_service_for
LOCAL = {"lambda": LocalLambda, "ecs": LocalEcs, "athena": LocalAthena, "aws-sdk": LocalAwsSdk}


def _local_state_task_service_for(service_name: str):
    if service_name in LOCAL:
        return LOCAL[service_name]()
    return _original(service_name=service_name)


def install() -> None:
    factory.state_task_service_for = _local_state_task_service_for
