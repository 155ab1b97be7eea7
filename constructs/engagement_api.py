"""The platform's REST API: IAM-signed POST routes to Lambda, each body checked against its JSON
schema before any code runs, throttled, access-logged without bodies, traced."""

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct
from constructs.nag import acknowledge, acknowledge_checkov

STAGE = "v1"
SCHEMA_TYPES = {"object": apigateway.JsonSchemaType.OBJECT, "string": apigateway.JsonSchemaType.STRING}


class EngagementApi(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, encryption_key: kms.IKey,
                 requests_per_second: int = 50, burst: int = 100) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = logs.LogGroup(self, "AccessLogs", encryption_key=encryption_key,
                                         retention=logs.RetentionDays.ONE_YEAR, removal_policy=cdk.RemovalPolicy.RETAIN)
        self.api = apigateway.RestApi(
            self, "Api", description="Customer engagement platform: predictions and questions about them",
            endpoint_types=[apigateway.EndpointType.REGIONAL],
            cloud_watch_role=True, cloud_watch_role_removal_policy=cdk.RemovalPolicy.RETAIN,
            default_method_options=apigateway.MethodOptions(authorization_type=apigateway.AuthorizationType.IAM),
            deploy_options=apigateway.StageOptions(
                stage_name=STAGE, throttling_rate_limit=requests_per_second, throttling_burst_limit=burst,
                access_log_destination=apigateway.LogGroupLogDestination(self.access_logs),
                # Who called what and how it ended; no source IP and no bodies (a body names a customer).
                access_log_format=apigateway.AccessLogFormat.json_with_standard_fields(
                    caller=True, http_method=True, ip=False, protocol=True, request_time=True, resource_path=True,
                    response_length=True, status=True, user=True),
                logging_level=apigateway.MethodLoggingLevel.ERROR, data_trace_enabled=False, metrics_enabled=True,
                tracing_enabled=True),
        )
        self.validator = self.api.add_request_validator("RequestValidator", validate_request_body=True,
                                                        validate_request_parameters=True)
        self._acknowledge()

    def add_post_route(self, path: str, *, function: lambda_.IFunction, request_schema: dict) -> apigateway.Method:
        """POST /path to `function` (proxy integration); bodies that break `request_schema` get 400."""
        name = "".join(part.capitalize() for part in path.split("_")) + "Request"
        model = self.api.add_model(name, content_type="application/json", model_name=name,
                                   schema=json_schema(request_schema))
        return self.api.root.add_resource(path).add_method(
            "POST", apigateway.LambdaIntegration(function), request_validator=self.validator,
            request_models={"$default": model})  # every content type, not only JSON

    def _acknowledge(self) -> None:
        acknowledge(self.api, "Every method requires IAM (SigV4) authorization: the callers are the organisation's"
                              " services and analysts with IAM roles, so a Cognito user pool would add a second"
                              " identity store for no additional control.", "AwsSolutions-COG4")
        acknowledge(self.api, "No WAF web ACL: the API is IAM-authorized and throttled at the stage; a web ACL"
                              " (~$5/month plus requests) protects public, unauthenticated endpoints.",
                    "AwsSolutions-APIG3", "NIST.800.53.R5-APIGWAssociatedWithWAF")
        acknowledge(self.api, "No stage cache: /predict reads one DynamoDB item in milliseconds, and a cache"
                              " cluster (~$14/month minimum) would serve a previous run's answers after a publish.",
                    "NIST.800.53.R5-APIGWCacheEnabledAndEncrypted", "HIPAA.Security-APIGWCacheEnabledAndEncrypted")
        acknowledge(self.api, "The backends are Lambda proxy integrations, not HTTP endpoints, so there is no"
                              " backend to authenticate with a client certificate.",
                    "NIST.800.53.R5-APIGWSSLEnabled", "HIPAA.Security-APIGWSSLEnabled")
        acknowledge(self.api, "API Gateway's AWS-managed policy for pushing execution logs to CloudWatch Logs,"
                              " attached to the account-level role API Gateway assumes for that.",
                    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                    "AmazonAPIGatewayPushToCloudWatchLogs]")
        stage = self.api.deployment_stage
        acknowledge_checkov(stage, "No stage cache (see the cdk-nag acknowledgment).", "CKV_AWS_120")
        acknowledge_checkov(stage, "No WAF web ACL on an IAM-authorized, throttled API.", "CKV2_AWS_29")
        acknowledge_checkov(stage, "No client certificate: Lambda proxy backends.", "CKV2_AWS_51")


def json_schema(schema: dict, *, top: bool = True) -> apigateway.JsonSchema:
    """A JSON Schema dict (the subset request schemas use) as CDK's typed JsonSchema."""
    properties = {name: json_schema(value, top=False) for name, value in schema.get("properties", {}).items()}
    return apigateway.JsonSchema(
        schema=apigateway.JsonSchemaVersion.DRAFT4 if top else None, type=SCHEMA_TYPES[schema["type"]],
        required=schema.get("required"), additional_properties=schema.get("additionalProperties"),
        pattern=schema.get("pattern"), min_length=schema.get("minLength"), max_length=schema.get("maxLength"),
        properties=properties or None)
