"""The `engagement-ml-pipeline` state machine (ARCHITECTURE.md section 4).

PreCleanup -> Ingest -> DataPreparation (three Athena CTAS) -> Parallel(DataValidation, Training)
-> QualityGate -> Inference -> Parallel(QA table, results table, cache, knowledge base) ->
Publish (views, then the latest pointer) -> NotifySuccess. Any failure: NotifyFailure, then Fail;
nothing is published, so readers keep the previous run.

Payloads are small: `$.run` (run id, source key), stage summaries, S3 URIs.
"""

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct
from constructs.ml_task import MlTask
from constructs.nag import acknowledge_wildcard_resources

import sql

RUN_ID = "$.run.run_id"
TRANSIENT = {
    "lambda": ["Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
               "Lambda.TooManyRequestsException"],
    "athena": ["Athena.TooManyRequestsException", "Athena.InternalServerException"],
    "ecs": ["ECS.AmazonECSException", "ECS.ServerException"],
    "aws": ["States.Timeout"],
}


@dataclass(frozen=True, kw_only=True)
class EngagementPipelineProps:
    functions: dict[str, lambda_.IFunction]  # pre_cleanup, ingest, validate, cache_load, knowledge_base, publish
    cluster: ecs.ICluster
    training: MlTask
    inference: MlTask
    task_security_group: ec2.ISecurityGroup
    buckets: dict[str, str]  # logical name -> bucket name (tokens)
    workgroup_name: str
    topic: sns.ITopic
    encryption_key: kms.IKey


class EngagementPipeline(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, props: EngagementPipelineProps) -> None:
        super().__init__(scope, construct_id)
        self.props = props
        failed = sfn.Fail(self, "PipelineFailed", error="EngagementPipelineFailed",
                          cause="A stage failed; the previous results stay published. See NotifyFailure.")
        notify_failure = tasks.SnsPublish(
            self, "NotifyFailure", topic=props.topic, subject="Engagement pipeline FAILED",
            message=sfn.TaskInput.from_object({
                "status": "FAILED", "execution": sfn.JsonPath.string_at("$$.Execution.Id"),
                "error": sfn.JsonPath.string_at("$.error.Error"), "cause": sfn.JsonPath.string_at("$.error.Cause"),
            }),
            result_path=sfn.JsonPath.DISCARD,
        ).next(failed)
        self._catch_to = notify_failure

        pre_cleanup = self._lambda("PreCleanup", "pre_cleanup", {
            "execution_name": sfn.JsonPath.string_at("$$.Execution.Name"),
            "input": sfn.JsonPath.object_at("$"),
        }, ("run_id", "source_key"), result_path="$.run")
        ingest = self._lambda("Ingest", "ingest", {
            "run_id": sfn.JsonPath.string_at(RUN_ID), "source_key": sfn.JsonPath.string_at("$.run.source_key"),
        }, ("rows_in", "rows_accepted", "rows_quarantined", "report"), result_path="$.ingest")
        preparation_states = [
            self._athena("PrepareTrainingData", "prepare_training", "engagement_raw"),
            self._athena("PrepareTestData", "prepare_test", "engagement_raw"),
            self._athena("PrepareInferenceData", "prepare_inference", "engagement_raw"),
        ]
        preparation = sfn.Chain.start(preparation_states[0]).next(preparation_states[1]).next(preparation_states[2])

        checks = sfn.Parallel(self, "ValidateAndTrain", result_path="$.checks",
                              result_selector={"validation.$": "$[0]", "training.$": "$[1]"})
        checks.branch(self._lambda("DataValidation", "validate", {"run_id": sfn.JsonPath.string_at(RUN_ID)},
                                   ("rows", "max_psi", "shifted_features", "report")))
        checks.branch(self._ml_task("Training", props.training, {
            "TRAINING_DATA_URI": self._run_uri("processed", "runs/{}/training/"),
            "TEST_DATA_URI": self._run_uri("processed", "runs/{}/test/"),
            "MODEL_REGISTRY_URI": f"s3://{props.buckets['models']}/models",
            "MODEL_VERSION": sfn.JsonPath.string_at(RUN_ID),
            "TRAINING_OUTPUT_URI": self._run_uri("processed", "runs/{}/training_summary.json"),
            "MODEL_CARD_URI": self._run_uri("models", "model_cards/{}"),
        }).next(self._read_json("ReadTrainingSummary", "processed", "runs/{}/training_summary.json")))
        self._protect(checks)

        gate_failed = tasks.SnsPublish(
            self, "NotifyQualityGateFailed", topic=props.topic, subject="Engagement pipeline: quality gate failed",
            message=sfn.TaskInput.from_object({
                "status": "QUALITY_GATE_FAILED", "execution": sfn.JsonPath.string_at("$$.Execution.Id"),
                "checks": sfn.JsonPath.object_at("$.checks.training.checks"),
            }),
            result_path=sfn.JsonPath.DISCARD,
        ).next(sfn.Fail(self, "QualityGateFailed", error="QualityGateFailed",
                        cause="Model quality or fairness below thresholds; nothing was published."))

        inference = self._ml_task("Inference", props.inference, {
            "INFERENCE_DATA_URI": self._run_uri("processed", "runs/{}/inference/"),
            "MODEL_REGISTRY_URI": f"s3://{props.buckets['models']}/models",
            "MODEL_VERSION": sfn.JsonPath.string_at(RUN_ID),
            "PREDICTIONS_URI": self._run_uri("predictions", "predictions/run_id={}/predictions.parquet"),
            "INFERENCE_OUTPUT_URI": self._run_uri("processed", "runs/{}/inference_summary.json"),
        })
        outputs = sfn.Parallel(self, "BuildOutputs", result_path="$.outputs",
                               result_selector={"cache.$": "$[2]", "knowledge_base.$": "$[3]"})
        outputs.branch(self._athena("CreateQaTable", "qa_review", "engagement_qa"))
        outputs.branch(self._athena("CreateResultsTable", "final_results", "engagement_analytics"))
        outputs.branch(self._lambda("CacheLoad", "cache_load", {"run_id": sfn.JsonPath.string_at(RUN_ID)},
                                    ("items_written",)))
        outputs.branch(self._lambda("KnowledgeBaseDocuments", "knowledge_base",
                                    {"run_id": sfn.JsonPath.string_at(RUN_ID)}, ("documents", "location")))
        self._protect(outputs)

        publish_states = [self._athena(state_id, statement, database) for state_id, statement, database in (
            ("PublishResultsView", "publish_final_results", "engagement_analytics"),
            ("PublishQaView", "publish_human_review", "engagement_qa"),
            ("PublishPredictionsView", "publish_predictions", "engagement_predictions"),
            ("CreateHighValueView", "view_high_value_customers", "engagement_analytics"),
            ("CreateAtRiskView", "view_at_risk_customers", "engagement_analytics"),
            ("CreateModelPerformanceView", "view_model_performance", "engagement_analytics"),
        )]
        publish = sfn.Chain.start(publish_states[0])
        for state in publish_states[1:]:
            publish = publish.next(state)
        publish_latest = self._lambda("PublishLatest", "publish", {
            "run_id": sfn.JsonPath.string_at(RUN_ID),
            "execution_name": sfn.JsonPath.string_at("$$.Execution.Name"),
            "summary": {
                "rows_in": sfn.JsonPath.number_at("$.ingest.rows_in"),
                "rows_quarantined": sfn.JsonPath.number_at("$.ingest.rows_quarantined"),
                "engagement_r2": sfn.JsonPath.number_at("$.checks.training.engagement_r2"),
                "churn_roc_auc": sfn.JsonPath.number_at("$.checks.training.churn_roc_auc"),
                "cache_items": sfn.JsonPath.number_at("$.outputs.cache.items_written"),
            },
        }, ("previous_run_id",), result_path="$.published")
        notify_success = tasks.SnsPublish(
            self, "NotifySuccess", topic=props.topic, subject="Engagement pipeline succeeded",
            message=sfn.TaskInput.from_object({
                "status": "SUCCEEDED", "execution": sfn.JsonPath.string_at("$$.Execution.Id"),
                "run_id": sfn.JsonPath.string_at(RUN_ID),
                "rows_accepted": sfn.JsonPath.number_at("$.ingest.rows_accepted"),
                "rows_quarantined": sfn.JsonPath.number_at("$.ingest.rows_quarantined"),
                "engagement_r2": sfn.JsonPath.number_at("$.checks.training.engagement_r2"),
                "churn_roc_auc": sfn.JsonPath.number_at("$.checks.training.churn_roc_auc"),
                "previous_run_id": sfn.JsonPath.string_at("$.published.previous_run_id"),
            }),
            result_path=sfn.JsonPath.DISCARD,
        )

        for state in (pre_cleanup, ingest, *preparation_states, inference, *publish_states, publish_latest):
            self._protect(state)
        quality_gate = sfn.Choice(self, "QualityGate").when(
            sfn.Condition.boolean_equals("$.checks.training.passed", True),
            inference.next(outputs).next(publish).next(publish_latest).next(notify_success)
            .next(sfn.Succeed(self, "Published")),
        ).otherwise(gate_failed)
        self.definition = (
            sfn.Chain.start(pre_cleanup).next(ingest).next(preparation).next(checks).next(quality_gate)
        )

        self.log_group = logs.LogGroup(self, "Logs", encryption_key=props.encryption_key,
                                       retention=logs.RetentionDays.ONE_YEAR, removal_policy=cdk.RemovalPolicy.RETAIN)
        acknowledge_wildcard_resources(
            self, "lambda:InvokeFunction on each stage function's versions and aliases (ARN:*), as CDK grants it.",
            *(f"{function.function_arn}:*" for function in props.functions.values()),
        )
        acknowledge_wildcard_resources(
            self, "Reads the training summary of the current run, whose key contains the run id.",
            f"arn:{cdk.Aws.PARTITION}:s3:::{props.buckets['processed']}/runs/*",
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=None,
            definition_body=sfn.DefinitionBody.from_chainable(self.definition),
            timeout=cdk.Duration.hours(2),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
            comment="engagement-ml-pipeline: ingest, prepare, validate and train, gate, score, publish",
        )

    # --- state builders ---------------------------------------------------------------------

    def _protect(self, state) -> None:
        state.add_catch(self._catch_to, result_path="$.error")

    def _lambda(self, state_id: str, function: str, payload: dict, picks: tuple[str, ...],
                result_path: str | None = None):
        """lambda:invoke (the default integration), keeping only the named fields of the result."""
        task = tasks.LambdaInvoke(
            self, state_id, lambda_function=self.props.functions[function],
            payload=sfn.TaskInput.from_object(payload),
            result_selector={f"{name}.$": f"$.Payload.{name}" for name in picks},
            result_path=result_path, retry_on_service_exceptions=False,
        )
        task.add_retry(errors=TRANSIENT["lambda"], interval=cdk.Duration.seconds(5), max_attempts=3, backoff_rate=2)
        return task

    def _athena(self, state_id: str, statement: str, database: str):
        template = sql.load(statement)
        static = {"processed_bucket": self.props.buckets["processed"], "results_bucket": self.props.buckets["results"],
                  "qa_bucket": self.props.buckets["qa"], "run_id": "{}"}
        text = " ".join(template.render(static).split())
        runtime_args = [sfn.JsonPath.string_at(RUN_ID)] * text.count("{}")
        task = tasks.AthenaStartQueryExecution(
            self, state_id,
            query_string=sfn.JsonPath.format(text, *runtime_args) if runtime_args else text,
            query_execution_context=tasks.QueryExecutionContext(database_name=database),
            work_group=self.props.workgroup_name,
            integration_pattern=sfn.IntegrationPattern.RUN_JOB,
            result_path=sfn.JsonPath.DISCARD,
        )
        task.add_retry(errors=TRANSIENT["athena"], interval=cdk.Duration.seconds(10), max_attempts=3, backoff_rate=2)
        return task

    def _ml_task(self, state_id: str, ml: MlTask, environment: dict):
        task = tasks.EcsRunTask(
            self, state_id,
            cluster=self.props.cluster,
            task_definition=ml.task_definition,
            launch_target=tasks.EcsFargateLaunchTarget(platform_version=ecs.FargatePlatformVersion.LATEST),
            integration_pattern=sfn.IntegrationPattern.RUN_JOB,
            assign_public_ip=False,
            subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            security_groups=[self.props.task_security_group],
            container_overrides=[tasks.ContainerOverride(
                container_definition=ml.container,
                environment=[tasks.TaskEnvironmentVariable(name=name, value=value)
                             for name, value in environment.items()],
            )],
            result_path=sfn.JsonPath.DISCARD,
        )
        task.add_retry(errors=TRANSIENT["ecs"], interval=cdk.Duration.seconds(30), max_attempts=2, backoff_rate=2)
        return task

    def _read_json(self, state_id: str, bucket: str, key_pattern: str):
        read = tasks.CallAwsService(
            self, state_id, service="s3", action="getObject",
            parameters={"Bucket": self.props.buckets[bucket],
                        "Key": sfn.JsonPath.format(key_pattern, sfn.JsonPath.string_at(RUN_ID))},
            iam_resources=[f"arn:{cdk.Aws.PARTITION}:s3:::{self.props.buckets[bucket]}/runs/*"],
            result_selector={"document.$": "States.StringToJson($.Body)"},
        )
        read.add_retry(errors=["S3.S3Exception", "S3.SdkClientException"], interval=cdk.Duration.seconds(5),
                       max_attempts=3, backoff_rate=2)
        # Only what the gate, the notifications and the latest pointer need travels on.
        return read.next(sfn.Pass(self, f"{state_id}Fields", parameters={
            "passed.$": "$.document.passed",
            "checks.$": "$.document.checks",
            "engagement_r2.$": "$.document.metrics.engagement.r2",
            "churn_roc_auc.$": "$.document.metrics.churn.roc_auc",
            "model_version.$": "$.document.model_version",
        }))

    def _run_uri(self, bucket: str, pattern: str) -> str:
        return sfn.JsonPath.format(f"s3://{self.props.buckets[bucket]}/{pattern}", sfn.JsonPath.string_at(RUN_ID))
