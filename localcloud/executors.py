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
import subprocess
import sys
import tempfile
import threading
import time
import uuid
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

REPO = Path(__file__).resolve().parent.parent
QUOTE = "@@Q@@"  # stands in for an escaped quote inside States.Format (see cloud._without_escaped_quotes)
LAMBDA_RUNNER = (
    "import importlib, json, sys\n"
    "module, function = sys.argv[1].rsplit('.', 1)\n"
    "class Context:\n"
    "    function_name = sys.argv[2]; aws_request_id = 'local'\n"
    "    memory_limit_in_mb = int(__import__('os').environ['AWS_LAMBDA_FUNCTION_MEMORY_SIZE'])\n"
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
    memory_mb: int = 128  # Lambda's defaults, as CloudFormation applies them
    timeout_s: int = 3


@dataclass
class LocalTask:
    command: list[str]
    environment: dict[str, str]
    memory_mb: int = 512


class Exceeded(Exception):
    def __init__(self, limit: str, detail: str) -> None:
        super().__init__(detail)
        self.limit = limit  # "memory" or "time"


@dataclass
class Registry:
    """What the executors run, filled by the deployment from the templates."""

    functions: dict[str, LocalFunction] = field(default_factory=dict)  # by ARN and by name
    tasks: dict[str, LocalTask] = field(default_factory=dict)  # by task definition ARN
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

    def _run(self, env, label: str, argv: list[str], environment: dict[str, str], *, memory_mb: int,
             timeout_s: float, stdin: str = "") -> str:
        """Run `argv`, killing it when its processes outgrow `memory_mb` or it outlives `timeout_s`."""
        REGISTRY.log_dir.mkdir(parents=True, exist_ok=True)
        log = REGISTRY.log_dir / f"{label}.log"
        with tempfile.TemporaryFile("w+") as out, log.open("w") as err:
            process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=out, stderr=err, text=True,
                                       env=environment, cwd=str(REPO))
            process.stdin.write(stdin)
            process.stdin.close()
            started = time.monotonic()
            peak = _watch(process, memory_mb, timeout_s)
            out.seek(0)
            output = out.read()
            if not isinstance(peak, Exceeded):  # as Lambda's REPORT line: the headroom, measured
                err.write(f"REPORT Duration: {(time.monotonic() - started) * 1000:.0f} ms "
                          f"Memory Size: {memory_mb} MB Max Memory Used: {peak / 2**20:.0f} MB\n")
        if isinstance(peak, Exceeded):
            raise peak
        if process.returncode != 0:
            return self._fail(env, *self._error_of(log.read_text() or output))
        return output

    def _state_timeout(self) -> float:
        """The state's TimeoutSeconds (moto fails the state then; the process must not outlive it)."""
        return float("inf") if self.timeout.is_default_value() else float(self.timeout.timeout_seconds)

    @staticmethod
    def _error_of(output: str) -> tuple[str, str]:
        """(error name, cause): the exception class of the last traceback line, like Lambda reports it."""
        last = [line for line in output.strip().splitlines()
                if line.strip() and not line.startswith("REPORT ")][-1:] or ["failed"]
        name = last[0].split(":", 1)[0].rsplit(".", 1)[-1].strip()
        return (name if name and name.replace("_", "").isalnum() else "TaskFailed"), output.strip()[-4000:]


class LocalLambda(_LocalService):
    def _eval_service_task(self, env, resource_runtime_part, normalised_parameters, state_credentials):
        name = normalised_parameters["FunctionName"]
        function = REGISTRY.functions.get(name) or REGISTRY.functions.get(name.split(":")[-1])
        if function is None:
            return self._fail(env, "Lambda.ResourceNotFoundException", f"no local function {name}")
        environment = {**os.environ, **REGISTRY.base_environment, **function.environment,
                       "PYTHONPATH": str(function.code_dir), "POWERTOOLS_TRACE_DISABLED": "true",
                       "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb)}
        try:
            output = self._run(env, function.name, [sys.executable, "-c", LAMBDA_RUNNER, function.handler,
                                                    function.name], environment, memory_mb=function.memory_mb,
                               timeout_s=min(function.timeout_s, self._state_timeout()),
                               stdin=json.dumps(normalised_parameters.get("Payload", {})))
        except Exceeded as exceeded:  # what Lambda reports for each
            error = "Runtime.OutOfMemory" if exceeded.limit == "memory" else "Sandbox.Timedout"
            return self._fail(env, error, f"{function.name}: {exceeded}")
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
        try:
            self._run(env, f"ecs-{task.command[-1]}", [sys.executable, "-m", "engagement_ml", *task.command],
                      environment, memory_mb=task.memory_mb, timeout_s=self._state_timeout())
        except Exceeded as exceeded:
            if exceeded.limit == "memory":
                return self._fail(env, "States.TaskFailed",
                                  f"OutOfMemoryError: Container killed due to memory usage ({exceeded})")
            return self._fail(env, "States.Timeout", str(exceeded))
        cluster = normalised_parameters.get("Cluster", "arn:aws:ecs:local:local:cluster/default")
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


def _watch(process: subprocess.Popen, memory_mb: int, timeout_s: float) -> int | Exceeded:
    """Wait for `process`; its peak memory (bytes, the process and its children), or Exceeded."""
    started, peak, limit = time.monotonic(), 0, memory_mb * 1024 * 1024
    while process.poll() is None:
        peak = max(peak, _rss(process.pid))
        elapsed = time.monotonic() - started
        if peak > limit or elapsed > timeout_s:
            process.kill()
            process.wait()
            if peak > limit:
                return Exceeded("memory", f"used {peak / 2**20:,.0f} MB of its {memory_mb:,} MB")
            return Exceeded("time", f"Task timed out after {timeout_s:.2f} seconds")
        time.sleep(0.05)
    return peak


def _rss(pid: int) -> int:
    """Resident memory of a process and its descendants (Linux /proc; 0 where unreadable)."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))) * 1024
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (OSError, StopIteration, ValueError):
            continue
    return total


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


def install() -> None:
    factory.state_task_service_for = _local_state_task_service_for
    if not getattr(ExecutionWorker._get_evaluation_environment, "iso_start_time", False):
        ExecutionWorker._get_evaluation_environment = _with_iso_start_time(ExecutionWorker._get_evaluation_environment)
