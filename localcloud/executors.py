"""Local executors for the integrations moto's ASL interpreter cannot run as the app needs.

They plug into `state_task_service_for` (the interpreter's factory) and hand each task to the
local cloud that installed them: `lambda:invoke` to `LocalCloud.invoke` (the deployed function),
`ecs:runTask.sync` to `LocalCloud.run_task` (the registered task definition),
`athena:startQueryExecution.sync` to `LocalCloud.athena_request` (DuckDB). Everything else (SNS,
DynamoDB) stays moto's own, decided as the state machine's role first. A Distributed Map's
`ItemReader` reads S3 as that role too (moto reads as anyone). Failures come back as Step Functions reports them: the error name
the service gives (`Runtime.OutOfMemory`, `Sandbox.Timedout`, `States.Timeout`, …) and its cause.

moto's factory is process-wide, so the installed cloud is too: one local cloud per process.
"""

import json
import uuid
from datetime import UTC

from botocore.exceptions import ClientError

import moto.stepfunctions.parser.asl.component.state.exec.state_parallel.branches_decl as parallel_branches
import moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_factory as factory
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.api import HistoryEventType, MapRunFailedEventDetails, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval.resource_eval_s3 import (
    ResourceEvalS3,
)
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
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
from localcloud.iam_gate import AccessDenied
from localcloud.iam_requests import Call, Check
from localcloud.tasks import TaskError

QUOTE = "@@Q@@"  # stands in for an escaped quote inside States.Format (see _without_escaped_quotes)
_cloud = None  # the LocalCloud that installed the executors


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
            env=env, error_name=_error_name(error), event_type=HistoryEventType.TaskFailed,
            event_details=EventDetails(taskFailedEventDetails=TaskFailedEventDetails(
                error=error, cause=cause[-30_000:], resource=self._get_sfn_resource(),
                resourceType=self._get_sfn_resource_type())),
        ))

    def _authorize(self, env, checks: list[Check], error: str, service: str) -> None:
        """Decide the integration's calls as the state machine's role; a refused call fails the
        state with the error Step Functions reports for it."""
        try:
            _cloud.authorize(_machine_session(env), checks)
        except AccessDenied as denied:
            _LocalService._fail(self, env, error, f"{denied} (Service: {service}; Status Code: 403; Error Code: "
                                                  "AccessDeniedException)")

    def _state_timeout(self) -> float:
        """The state's TimeoutSeconds (moto fails the state then; the process must not outlive it)."""
        return float("inf") if self.timeout.is_default_value() else float(self.timeout.timeout_seconds)


def _error_name(error: str):
    """Step Functions' own errors (States.TaskFailed, …) are not custom names."""
    return StatesErrorName.from_name(error) if error.startswith("States.") else CustomErrorName(error)


def _machine_session(env):
    """The execution's role (the context object's Execution.RoleArn, as Step Functions has it)."""
    context = env.states.context_object.context_object_data
    return _cloud.state_machine_session(context["StateMachine"]["Id"], context["Execution"].get("RoleArn"))


class LocalLambda(_LocalService):
    def _eval_service_task(self, env, resource_runtime_part, normalised_parameters, state_credentials):
        function = normalised_parameters["FunctionName"]
        invocation = Call.internal("POST", f"/2015-03-31/functions/{function}/invocations")
        self._authorize(env, _cloud.requests.rest_lambda("lambda", invocation),
                        "Lambda.AWSLambdaException", "AWSLambda")
        try:
            result = _cloud.invoke(normalised_parameters["FunctionName"], normalised_parameters.get("Payload", {}),
                                   self._state_timeout()).result
        except FunctionError as failed:
            return self._fail(env, failed.error, failed.cause)
        env.stack.append(lambda_invoke_output(result))


def lambda_invoke_output(payload) -> dict:
    """lambda:invoke's output as Step Functions gives it (tests/aws_recorded/): the function's
    result as `Payload`, with the SDK's response metadata beside it."""
    request_id = str(uuid.uuid4())
    headers = {"Content-Type": "application/json", "X-Amz-Executed-Version": "$LATEST",
               "x-amzn-RequestId": request_id}
    return {"ExecutedVersion": "$LATEST", "Payload": payload,
            "SdkHttpMetadata": {"AllHttpHeaders": {name: [value] for name, value in headers.items()},
                                "HttpHeaders": headers, "HttpStatusCode": 200},
            "SdkResponseMetadata": {"RequestId": request_id}, "StatusCode": 200}


class LocalEcs(_LocalService):
    def _eval_service_task(self, env, resource_runtime_part, normalised_parameters, state_credentials):
        cluster = normalised_parameters.get("Cluster", "")
        task = _cloud.registered_task(cluster, normalised_parameters["TaskDefinition"])
        if task is not None:
            passed = {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
            checks = [Check("ecs:RunTask", task.arn, {"ecs:cluster": cluster}),
                      *[Check("iam:PassRole", role, passed) for role in (task.task_role, task.execution_role) if role]]
            self._authorize(env, checks, "ECS.AccessDeniedException", "AmazonECS")
        try:
            stopped_task = _cloud.run_task(normalised_parameters.get("Cluster", ""), normalised_parameters["TaskDefinition"],
                                       normalised_parameters.get("Overrides", {}), self._state_timeout())
        except TaskError as failed:
            return self._fail(env, failed.error, failed.cause)
        env.stack.append(stopped_task)


class LocalAwsSdk(StateTaskServiceAwsSdk):
    """moto's aws-sdk integration returns S3 object bodies as streams it cannot serialize; read
    them as text, as Step Functions does. Other SDK calls are moto's own."""

    def _eval_service_task(self, env, resource_runtime_part, normalised_parameters, state_credentials):
        if (self.resource.api_name, self.resource.api_action) != ("s3", "getObject"):
            return super()._eval_service_task(env, resource_runtime_part, normalised_parameters, state_credentials)
        s3 = _cloud.client("s3", _machine_session(env))  # the state machine's role calls S3
        try:
            response = s3.get_object(Bucket=normalised_parameters["Bucket"], Key=normalised_parameters["Key"])
        except s3.exceptions.NoSuchKey as error:
            return _LocalService._fail(self, env, "S3.NoSuchKeyException", str(error))
        except ClientError as error:  # AccessDenied and the rest: the SDK's S3Exception
            return _LocalService._fail(self, env, "S3.S3Exception", str(error))
        env.stack.append({"Body": response["Body"].read().decode(), "ContentType": response.get("ContentType")})


class LocalAthena(_LocalService):
    def _eval_service_task(self, env, resource_runtime_part, normalised_parameters, state_credentials):
        workgroup = normalised_parameters.get("WorkGroup", "primary")
        started = [Check(f"athena:{action}", _cloud.requests.arn("athena", f"workgroup/{workgroup}"))
                   for action in ("StartQueryExecution", "GetQueryExecution")]
        self._authorize(env, started, "Athena.AccessDeniedException", "AmazonAthena")
        outcome = _cloud.athena_request(normalised_parameters["QueryString"].replace(QUOTE, "'"),
                                        normalised_parameters.get("ClientRequestToken"), workgroup,
                                        caller=_machine_session(env))
        if "error" in outcome:
            return self._fail(env, outcome["error_name"], outcome["error"])
        env.stack.append(outcome)


_original = factory.state_task_service_for
LOCAL = {"lambda": LocalLambda, "ecs": LocalEcs, "athena": LocalAthena, "aws-sdk": LocalAwsSdk}
# moto's own integrations, decided as the state machine's role first: service -> (checks, error, SDK name)
CHECKED = {"sns": (lambda operation, p: _cloud.requests.query_sns("sns", operation, p),
                   "SNS.AuthorizationErrorException", "AmazonSNS"),
           "dynamodb": (lambda operation, p: _cloud.requests.json_dynamodb("dynamodb", operation, p),
                        "DynamoDB.AccessDeniedException", "AmazonDynamoDBv2")}


def _local_state_task_service_for(service_name: str):
    if service_name in LOCAL:
        return LOCAL[service_name]()
    service = _original(service_name=service_name)
    if service_name in CHECKED:
        _checked(service, *CHECKED[service_name])
    return service


def _checked(service, checks_of, error: str, sdk: str) -> None:
    """moto answers these in-process: decide the call as the state machine's role before it does."""
    evaluate = service._eval_service_task

    def eval_service_task(env, resource_runtime_part, normalised_parameters, state_credentials):
        action = service.resource.api_action
        checks = checks_of(action[:1].upper() + action[1:], normalised_parameters)
        _LocalService._authorize(service, env, checks, error, sdk)
        return evaluate(env, resource_runtime_part, normalised_parameters, state_credentials)

    service._eval_service_task = eval_service_task


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


def _item_reader_get_object(env, resource_runtime_part, state_credentials) -> None:
    """ItemReader's s3:getObject as the state machine's role; a refusal (or a missing object) fails
    the map run with States.ItemReaderFailed, as Step Functions reports it (aws-recorded)."""
    parameters = env.stack.pop()
    try:
        body = _cloud.client("s3", _machine_session(env)).get_object(**parameters)["Body"].read()
    except ClientError as error:
        failed = StatesErrorName(typ=StatesErrorNameType.StatesItemReaderFailed)
        raise FailureEventException(failure_event=FailureEvent(
            env=env, error_name=failed, event_type=HistoryEventType.TaskFailed,
            event_details=EventDetails(mapRunFailedEventDetails=MapRunFailedEventDetails(
                error=failed.error_name, cause=str(error)))))
    env.stack.append(body.decode())


def _branch_error_name(error_name: str):
    """A Parallel state re-raises its failed branch's error by name; moto builds every such name as
    a custom one and crashes (States.Runtime) on States.TaskFailed, which AWS propagates."""
    return _error_name(error_name)


def install(cloud) -> None:
    global _cloud
    _cloud = cloud
    factory.state_task_service_for = _local_state_task_service_for
    ResourceEvalS3._handle_get_object = staticmethod(_item_reader_get_object)
    parallel_branches.CustomErrorName = _branch_error_name
    for name in ("create_state_machine", "update_state_machine"):
        method = getattr(StepFunctionsParserBackend, name)
        if not getattr(method, "unescaped", False):
            setattr(StepFunctionsParserBackend, name, _definitions_without_escaped_quotes(method))
    if not getattr(ExecutionWorker._get_evaluation_environment, "iso_start_time", False):
        ExecutionWorker._get_evaluation_environment = _with_iso_start_time(ExecutionWorker._get_evaluation_environment)
