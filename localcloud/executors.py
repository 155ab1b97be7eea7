"""Local executors for the three integrations moto's ASL interpreter cannot run as the app needs.

They plug into `state_task_service_for` (the interpreter's factory): `lambda:invoke` runs the
handler from the synthesized asset in a subprocess, `ecs:runTask.sync` runs the task
definition's container command in a subprocess, `athena:startQueryExecution.sync` runs the
statement on DuckDB. Everything else (SNS, DynamoDB, the aws-sdk S3 read) stays moto's own.

They are no more lenient than AWS: a function or task that outgrows its configured memory is
killed (Lambda's `Runtime.OutOfMemory`, ECS's OutOfMemoryError), one that outlives its timeout
is killed (`Sandbox.Timedout`, `States.Timeout`), and an Athena request token names one query:
a retry with the same token gets that query's outcome instead of running it again.
"""

import json
import os
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path

import moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_factory as factory
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
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
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

from localcloud.functions import FunctionError
from localcloud.limits import Exceeded, error_of, run_limited

REPO = Path(__file__).resolve().parent.parent

QUOTE = "@@Q@@"  # stands in for an escaped quote inside States.Format (see _without_escaped_quotes)


@dataclass
class LocalTask:
    command: list[str]
    environment: dict[str, str]
    memory_mb: int = 512


@dataclass
class Registry:
    """How the executors reach what was deployed; the local cloud fills it when it starts."""

    invoke: Callable[..., object] | None = None  # (function ARN, payload, timeout_s) -> result; raises FunctionError
    task: Callable[[str, str], LocalTask | None] | None = None  # (cluster ARN, task definition) -> LocalTask
    athena: object = None  # AthenaOnDuckDB
    athena_requests: dict[str, tuple[str, dict]] = field(default_factory=dict)  # token -> (query, outcome)
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

    def _state_timeout(self) -> float:
        """The state's TimeoutSeconds (moto fails the state then; the process must not outlive it)."""
        return float("inf") if self.timeout.is_default_value() else float(self.timeout.timeout_seconds)


class LocalLambda(_LocalService):
    def _eval_service_task(self, env, resource_runtime_part, normalised_parameters, state_credentials):
        try:
            result = REGISTRY.invoke(normalised_parameters["FunctionName"], normalised_parameters.get("Payload", {}),
                                     self._state_timeout())
        except FunctionError as failed:
            return self._fail(env, failed.error, failed.cause)
        env.stack.append({"ExecutedVersion": "$LATEST", "StatusCode": 200, "Payload": result})


class LocalEcs(_LocalService):
    def _eval_service_task(self, env, resource_runtime_part, normalised_parameters, state_credentials):
        cluster = normalised_parameters.get("Cluster", "")
        task = REGISTRY.task(cluster, normalised_parameters["TaskDefinition"])
        if task is None:
            return self._fail(env, "ECS.ClientException", f"no task definition {normalised_parameters['TaskDefinition']}")
        overrides = normalised_parameters.get("Overrides", {}).get("ContainerOverrides", [{}])[0]
        environment = {**os.environ, **REGISTRY.base_environment, **task.environment,
                       **{e["Name"]: e["Value"] for e in overrides.get("Environment", [])}}
        try:
            finished = run_limited([sys.executable, "-m", "engagement_ml", *task.command], environment,
                                   log=REGISTRY.log_dir / f"ecs-{task.command[-1]}.log", memory_mb=task.memory_mb,
                                   timeout_s=self._state_timeout(), cwd=REPO)
        except Exceeded as exceeded:
            if exceeded.limit == "memory":
                return self._fail(env, "States.TaskFailed",
                                  f"OutOfMemoryError: Container killed due to memory usage ({exceeded})")
            return self._fail(env, "States.Timeout", str(exceeded))
        if finished.returncode != 0:
            return self._fail(env, *error_of(finished.log or finished.stdout))
        task_arn = f"{cluster.replace(':cluster/', ':task/', 1)}/{uuid.uuid4().hex}"
        env.stack.append({"Tasks": [{"TaskArn": task_arn, "LastStatus": "STOPPED", "Containers": [{"ExitCode": 0}]}]})


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
        query = normalised_parameters["QueryString"].replace(QUOTE, "'")
        token = normalised_parameters.get("ClientRequestToken") or str(uuid.uuid4())
        if token in REGISTRY.athena_requests:  # a retry: Athena answers with the query that already ran
            earlier, outcome = REGISTRY.athena_requests[token]
            if earlier != query:
                return self._fail(env, "Athena.InvalidRequestException",
                                  f"client request token {token} was used with another query")
        else:
            outcome = self._execute(query)
            REGISTRY.athena_requests[token] = (query, outcome)
        if "error" in outcome:
            return self._fail(env, "Athena.AthenaException", outcome["error"])
        env.stack.append(outcome)

    @staticmethod
    def _execute(query: str) -> dict:
        from localcloud.athena_duckdb import AthenaSqlError

        execution_id = str(uuid.uuid4())
        try:
            with ATHENA_LOCK:  # Parallel branches run in threads; one DuckDB and one S3 mirror serve them all
                REGISTRY.athena.execute(query)
        except AthenaSqlError as error:
            REGISTRY.log_dir.mkdir(parents=True, exist_ok=True)
            (REGISTRY.log_dir / "athena-failed.sql").write_text(f"-- {error}\n{query}\n")
            return {"error": f"{error} — query: {query[:600]}"}
        return {"QueryExecution": {"QueryExecutionId": execution_id, "Status": {"State": "SUCCEEDED"}}}


_original = factory.state_task_service_for
LOCAL = {"lambda": LocalLambda, "ecs": LocalEcs, "athena": LocalAthena, "aws-sdk": LocalAwsSdk}


def _local_state_task_service_for(service_name: str):
    if service_name in LOCAL:
        return LOCAL[service_name]()
    return _original(service_name=service_name)


def _with_iso_start_time(build_environment):
    """moto hands `$$.Execution.StartTime` to the interpreter as a datetime; Step Functions gives
    an ISO 8601 string (which States.Format needs)."""

    def build(worker):
        env = build_environment(worker)
        execution = env.states.context_object.context_object_data["Execution"]
        started = execution["StartTime"]
        if not isinstance(started, str):
            execution["StartTime"] = started.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return env

    build.iso_start_time = True
    return build


def _without_escaped_quotes(value):
    """moto's intrinsic-function lexer ends a string literal at an escaped quote (\\'), which
    States.Format allows and Athena statements are full of; LocalAthena turns the stand-in back
    into a quote."""
    if isinstance(value, dict):
        return {k: _without_escaped_quotes(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_escaped_quotes(v) for v in value]
    if isinstance(value, str) and value.startswith("States.Format("):
        return value.replace("\\'", QUOTE)
    return value


def _definitions_without_escaped_quotes(method):
    def with_definition(self, *args, **kwargs):
        if kwargs.get("definition"):
            kwargs["definition"] = json.dumps(_without_escaped_quotes(json.loads(kwargs["definition"])))
        return method(self, *args, **kwargs)

    with_definition.unescaped = True
    return with_definition


def install() -> None:
    factory.state_task_service_for = _local_state_task_service_for
    for name in ("create_state_machine", "update_state_machine"):
        method = getattr(StepFunctionsParserBackend, name)
        if not getattr(method, "unescaped", False):
            setattr(StepFunctionsParserBackend, name, _definitions_without_escaped_quotes(method))
    if not getattr(ExecutionWorker._get_evaluation_environment, "iso_start_time", False):
        ExecutionWorker._get_evaluation_environment = _with_iso_start_time(ExecutionWorker._get_evaluation_environment)
