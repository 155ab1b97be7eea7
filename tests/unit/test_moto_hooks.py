"""The local cloud plugs into moto internals; if they move, say so plainly (pinned: moto 5.2.5)."""

from importlib.metadata import version


def test_moto_is_the_pinned_version():
    assert version("moto") == "5.2.5", (
        "localcloud/executors.py hooks into moto 5.2.5's Step Functions interpreter; re-check "
        "state_task_factory.state_task_service_for and StateTaskService before changing the pin"
    )


def test_the_hook_points_exist():
    import inspect

    import moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_factory as factory
    from moto.core.config import default_user_config
    from moto.server import ThreadedMotoServer
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEventException
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (
        StateTaskService,
    )

    assert "state_task_service_for" in vars(factory), "moto moved state_task_service_for"
    assert "stepfunctions" in default_user_config
    parameters = list(inspect.signature(StateTaskService._eval_service_task).parameters)
    assert parameters == ["self", "env", "resource_runtime_part", "normalised_parameters", "state_credentials"], (
        f"StateTaskService._eval_service_task changed its signature: {parameters}")
    # what the local cloud uses of them: a server it starts and stops, a failure it raises
    assert callable(ThreadedMotoServer.start) and callable(ThreadedMotoServer.stop)
    assert issubclass(FailureEventException, Exception)
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    assert "_get_evaluation_environment" in vars(ExecutionWorker), "moto moved where the context object is built"


def test_installing_the_executors_routes_our_three_integrations():
    import moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_factory as factory

    from localcloud import executors

    executors.install(cloud=None)  # routing only; a LocalCloud installs itself when it starts
    assert isinstance(factory.state_task_service_for("athena"), executors.LocalAthena)
    assert isinstance(factory.state_task_service_for("ecs"), executors.LocalEcs)
    assert isinstance(factory.state_task_service_for("lambda"), executors.LocalLambda)
    assert type(factory.state_task_service_for("sns")).__name__ == "StateTaskServiceSns"
    assert type(factory.state_task_service_for("dynamodb")).__name__ == "StateTaskServiceDynamoDB"


def test_the_cloudformation_hook_points_exist():
    """localcloud/cloudformation.py replaces these; if moto renames them, its fixes silently stop."""
    from moto.awslambda.models import LambdaFunction
    from moto.cloudformation import parsing
    from moto.cloudformation.models import CloudFormationBackend, Stack

    assert "CustomModel" in vars(parsing), "moto no longer looks custom resources up as parsing.CustomModel"
    for method in ("create_change_set", "execute_change_set", "delete_change_set", "describe_change_set"):
        assert method in vars(CloudFormationBackend), method
    assert isinstance(vars(Stack)["stack_parameters"], property)
    assert "create_from_cloudformation_json" in vars(LambdaFunction)
    assert "update_from_cloudformation_json" in vars(LambdaFunction)


def test_the_athena_and_lambda_api_hook_points_exist():
    """athena_api.py and lambda_api.py replace these; if moto renames them, boto3 gets moto's answers."""
    import inspect

    from moto.athena.models import AthenaBackend, Execution
    from moto.athena.responses import AthenaResponse
    from moto.awslambda.models import LambdaBackend

    assert list(inspect.signature(AthenaBackend.start_query_execution).parameters) == [
        "self", "query", "context", "config", "workgroup", "execution_parameters"]
    assert callable(AthenaBackend.get_query_execution) and callable(AthenaResponse.get_query_results)
    assert "_status" in vars(Execution("SELECT 1", {}, {}, None, None))
    assert list(inspect.signature(LambdaBackend.invoke).parameters) == [
        "self", "function_name", "qualifier", "body", "headers", "response_headers"]


def test_the_api_gateway_and_dynamodb_hook_points_exist():
    """rest_apis.py reads moto's API Gateway models; cloudformation.py creates stages and gives
    deployments ids; dynamodb_writes.py wraps the server application and builds moto's items."""
    import inspect

    from moto.apigateway.models import Deployment, Method, Resource, RestAPI
    from moto.dynamodb.models.dynamo_type import Item, LimitedSizeDict
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    assert list(inspect.signature(RestAPI.create_stage).parameters)[:3] == ["self", "name", "deployment_id"]
    assert "get_path" in vars(Resource) and "authorization_type" in inspect.signature(Method.__init__).parameters
    assert list(inspect.signature(Deployment.__init__).parameters)[:2] == ["self", "deployment_id"]
    assert list(inspect.signature(Item.__init__).parameters) == ["self", "hash_key", "range_key", "attrs"]
    assert "__setitem__" in vars(LimitedSizeDict) and "__call__" in vars(DomainDispatcherApplication)
    from moto.apigateway.models import APIGatewayBackend, RequestValidator

    assert "create_from_cloudformation_json" in vars(Method), "request checks: moto moved Method's CloudFormation"
    assert {"request_validators", "models"} <= set(vars(RestAPI("a", "000000000000", "us-east-1", "n", "d")))
    assert list(inspect.signature(APIGatewayBackend.create_model).parameters)[1:] == [
        "rest_api_id", "name", "content_type", "description", "schema"]
    assert list(inspect.signature(APIGatewayBackend.create_request_validator).parameters)[1:] == [
        "restapi_id", "name", "body", "params"]
    assert "validate_request_body" in vars(RequestValidator("i", "n", True, False))


def test_change_sets_create_each_resource_after_what_it_depends_on():
    from localcloud.cloudformation import dependency_order

    resources = {"Deployment": {"DependsOn": ["Method", "Model"]}, "Method": {}, "Model": {"DependsOn": "Api"},
                 "Api": {}, "Other": {}}
    assert dependency_order(resources, ["Deployment", "Method", "Model", "Other"]) == [
        "Method", "Model", "Deployment", "Other"]  # Api existed already: not created again


def test_a_parallel_state_names_its_failed_branchs_error_through_one_module_global():
    """executors.install replaces it so that States.TaskFailed from a branch propagates as on AWS."""
    import moto.stepfunctions.parser.asl.component.state.exec.state_parallel.branches_decl as branches

    assert hasattr(branches, "CustomErrorName")
