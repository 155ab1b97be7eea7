"""The AI stack: the platform's API over the published run — `POST /predict` (one customer's
cached predictions) and `POST /ask` (the assistant: Bedrock Converse with tools over Athena)."""

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct
from constructs.access import allow_athena_buckets, allow_key, allow_places, allow_tables
from constructs.engagement_api import EngagementApi
from constructs.knowledge_base import KnowledgeBase
from constructs.nag import acknowledge_wildcard_resources
from constructs.query_workgroup import QueryWorkgroup
from constructs.run_cache import RunCache
from constructs.stage_function import StageFunction, StageFunctionProps
from engagement import answer_cache, ask_api, prediction_api
from engagement import environment as env
from engagement.layout import PLACES
from stacks.data_exports import DataRefs
from stacks.network_stack import NetworkStack

REPO_ROOT = Path(__file__).resolve().parent.parent
ATHENA_QUERY_ACTIONS = ["athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults",
                        "athena:StopQueryExecution"]
# Geographic prefixes of cross-region inference profiles ("us.anthropic.…"): such a profile routes
# each request to a region AWS chooses within its geography, and that set can grow.
PROFILE_PREFIXES = ("us", "eu", "apac", "us-gov", "ca", "jp", "au", "global")


class AiStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, *, data: DataRefs, network: NetworkStack | None,
                 lambda_layer_dir: Path, model_id: str, assistant_bytes_scanned_cutoff: int,
                 api_concurrency: int | None = None, **kwargs) -> None:
        """`network`: the VPC the API's Lambdas run in (None: outside any VPC); `api_concurrency`:
        executions reserved for each API function (None: none)."""
        super().__init__(scope, construct_id, **kwargs)
        self._data, self._network, self._api_concurrency = data, network, api_concurrency
        self._data_key = kms.Key.from_key_arn(self, "DataKey", data.key_arn)
        # The assistant's queries run in a workgroup of their own, with a tighter scan cutoff than
        # the pipeline's. Athena has no per-workgroup run-time limit (the DML timeout is an account
        # quota): the assistant stops every query its turn's time budget outlives.
        self.workgroup = QueryWorkgroup(
            self, "AssistantWorkgroup", encryption_key=self._data_key,
            results_bucket=s3.Bucket.from_bucket_name(self, "QueryResults", data.bucket_names["athena_results"]),
            results_prefix=PLACES["query_results"].key, bytes_scanned_cutoff_per_query=assistant_bytes_scanned_cutoff,
            description="The assistant's queries over the published run")
        self._layer = lambda_.LayerVersion(
            self, "DependenciesLayer", code=lambda_.Code.from_asset(str(lambda_layer_dir)),
            compatible_runtimes=[lambda_.Runtime.PYTHON_3_11],
            description="pyarrow, numpy, Powertools, sqlglot (built from pinned manylinux wheels: make lambda-layer)")
        self._code = lambda_.Code.from_asset(str(REPO_ROOT / "runtime"), exclude=["**/__pycache__", "*.md"])
        predict = self._function("PredictFunction", "handlers.predict.handler",
                                 "POST /predict: one customer's predictions and reasons", seconds=10, memory_mb=512)
        predict.add_to_role_policy(iam.PolicyStatement(actions=["dynamodb:GetItem"], resources=[data.cache_table_arn]))
        allow_places(predict, predict, "predict", data.bucket_arns)
        self.knowledge_base = KnowledgeBase(self, "KnowledgeBase", documents_bucket_arns=data.bucket_arns,
                                            key_arn=data.key_arn)
        self.answer_cache = RunCache(self, "AnswerCache", encryption_key=self._data_key,
                                     ttl_attribute=answer_cache.TTL_ATTRIBUTE, partition_key=answer_cache.PARTITION_KEY,
                                     rebuilt_by="answered again on a miss", removal_policy=cdk.RemovalPolicy.DESTROY)
        assistant = self._function("AskFunction", "handlers.ask.handler",
                                   "POST /ask: the assistant (Bedrock Converse with tools over the published run)",
                                   seconds=29, memory_mb=1024,
                                   environment={env.MODEL_ID: model_id,
                                                env.ATHENA_WORKGROUP: self.workgroup.workgroup_name,
                                                env.KNOWLEDGE_BASE_ID: self.knowledge_base.knowledge_base_id,
                                                env.ANSWER_CACHE_TABLE: self.answer_cache.table.table_name})
        assistant.add_to_role_policy(iam.PolicyStatement(actions=["dynamodb:GetItem", "dynamodb:PutItem"],
                                                         resources=[self.answer_cache.table.table_arn]))
        self._grant_assistant(assistant, model_id)
        assistant.add_to_role_policy(iam.PolicyStatement(actions=["bedrock:Retrieve"],
                                                         resources=[self.knowledge_base.arn]))
        self.api = EngagementApi(self, "Api", encryption_key=self._data_key)
        self.api.add_post_route("predict", function=predict, request_schema=prediction_api.REQUEST_SCHEMA)
        self.api.add_post_route("ask", function=assistant, request_schema=ask_api.REQUEST_SCHEMA)
        cdk.CfnOutput(self, "ApiUrl", value=self.api.api.url)
        # What the erasure tool (engagement.erasure) erases besides the data stack's stores.
        cdk.CfnOutput(self, "AnswerCacheTableName", value=self.answer_cache.table.table_name)
        cdk.CfnOutput(self, "KnowledgeBaseId", value=self.knowledge_base.knowledge_base_id)
        cdk.CfnOutput(self, "KnowledgeBaseDataSourceId", value=self.knowledge_base.data_source_id)

    def _function(self, construct_id: str, handler: str, description: str, *, seconds: int, memory_mb: int,
                  environment: dict[str, str] | None = None) -> lambda_.Function:
        data = self._data
        function = StageFunction(self, construct_id, props=StageFunctionProps(
            handler=handler, description=description, code=self._code, layer=self._layer,
            vpc=self._network and self._network.vpc,
            security_group=self._network and self._network.workload_security_group, encryption_key=self._data_key,
            environment={**env.bucket_variables(data.bucket_names), env.CACHE_TABLE: data.cache_table_name,
                         **(environment or {})},
            timeout=cdk.Duration.seconds(seconds), memory_mb=memory_mb,
            reserved_concurrency=self._api_concurrency)).function
        allow_key(function, data.key_arn)
        return function

    def _grant_assistant(self, assistant: lambda_.Function, model_id: str) -> None:
        """Athena runs the assistant's SELECTs as its role: the published views, what they read, the
        query results; its own workgroup; the one model; explain_prediction's cache item."""
        data = self._data
        allow_places(assistant, assistant, "assistant", data.bucket_arns)
        allow_tables(assistant, assistant, "assistant")
        allow_athena_buckets(assistant, "assistant", data.bucket_arns)
        assistant.add_to_role_policy(iam.PolicyStatement(actions=ATHENA_QUERY_ACTIONS, resources=[self.format_arn(
            service="athena", resource="workgroup", resource_name=self.workgroup.workgroup_name)]))
        assistant.add_to_role_policy(iam.PolicyStatement(actions=["dynamodb:GetItem"],
                                                         resources=[data.cache_table_arn]))
        models = self._model_arns(model_id)
        assistant.add_to_role_policy(iam.PolicyStatement(actions=["bedrock:InvokeModel"], resources=models))
        acknowledge_wildcard_resources(assistant, "The one foundation model behind the cross-region inference profile,"
                                                  " in whichever region the profile routes a request to (AWS chooses"
                                                  " them; the model is named exactly).",
                                       *[arn for arn in models if ":bedrock:*:" in arn])

    def _model_arns(self, model_id: str) -> list[str]:
        """The inference profile and its one foundation model in whichever region the profile routes
        to (Converse on a profile is authorized on both; the routing regions are AWS's to choose, so
        the model is scoped by name, not by a region list), or the one foundation model here."""
        prefix, _, base = model_id.partition(".")
        if prefix in PROFILE_PREFIXES and base:
            return [self.format_arn(service="bedrock", resource="inference-profile", resource_name=model_id),
                    f"arn:{self.partition}:bedrock:*::foundation-model/{base}"]
        return [f"arn:{self.partition}:bedrock:{self.region}::foundation-model/{model_id}"]
