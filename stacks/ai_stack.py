"""The AI stack: the platform's API over the published run (`POST /predict`)."""

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct
from constructs.access import allow_key, allow_places
from constructs.engagement_api import EngagementApi
from constructs.stage_function import StageFunction, StageFunctionProps
from engagement.prediction_api import REQUEST_SCHEMA
from stacks.data_exports import DataRefs
from stacks.network_stack import NetworkStack

REPO_ROOT = Path(__file__).resolve().parent.parent


class AiStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, *, data: DataRefs, network: NetworkStack,
                 lambda_layer_dir: Path, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        data_key = kms.Key.from_key_arn(self, "DataKey", data.key_arn)
        layer = lambda_.LayerVersion(
            self, "DependenciesLayer", code=lambda_.Code.from_asset(str(lambda_layer_dir)),
            compatible_runtimes=[lambda_.Runtime.PYTHON_3_11],
            description="pyarrow, numpy, Powertools (built from pinned manylinux wheels: make lambda-layer)")
        predict = StageFunction(self, "PredictFunction", props=StageFunctionProps(
            handler="handlers.predict.handler", description="POST /predict: one customer's predictions and reasons",
            code=lambda_.Code.from_asset(str(REPO_ROOT / "runtime"), exclude=["**/__pycache__", "*.md"]),
            layer=layer, vpc=network.vpc, security_group=network.workload_security_group, encryption_key=data_key,
            environment={**{f"{name.upper()}_BUCKET": bucket for name, bucket in data.bucket_names.items()},
                         "CACHE_TABLE": data.cache_table_name},
            timeout=cdk.Duration.seconds(10), memory_mb=512, reserved_concurrency=10)).function
        allow_places(predict, predict, "predict", data.bucket_arns)
        allow_key(predict, data.key_arn)
        predict.add_to_role_policy(iam.PolicyStatement(actions=["dynamodb:GetItem"], resources=[data.cache_table_arn]))
        self.api = EngagementApi(self, "Api", encryption_key=data_key)
        self.api.add_post_route("predict", function=predict, request_schema=REQUEST_SCHEMA)
        cdk.CfnOutput(self, "ApiUrl", value=self.api.api.url)
