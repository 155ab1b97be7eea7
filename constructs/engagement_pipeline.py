"""The `engagement-ml-pipeline` state machine (ARCHITECTURE.md section 4).

ClaimRun (the run lock; a new run id) -> PlanIngest -> IngestFiles (a Distributed Map: one Ingest
per upload file) -> MergeIngest -> DataPreparation (three Athena CTAS) ->
Parallel(DataValidation, Training) -> QualityGate -> PlanShards -> ScoreShards (a Distributed Map:
one Inference task per shard) -> MergeInference -> RegisterPredictions -> Parallel(QA table,
results table, LoadCacheShards (a Distributed Map: one CacheLoad per shard) -> CheckCacheLoad,
knowledge base) -> RegisterOutputs -> the published views -> PublishLatest -> ReleaseRunLock ->
NotifySuccess.

A shard is at most `shard_rows` customers (engagement.shards). A shard that fails is caught inside
its child execution and reported; the merge step after each map fails the run naming it, so the
run publishes all shards or nothing.

Everything before PublishLatest writes only the run's own places and tables (engagement.layout);
the published views read whatever run the published pointer names, so PublishLatest's one
conditional PUT is the whole publish. Any failure releases the lock, notifies and fails, and
readers keep the previous run. Every retried step is idempotent: Lambda stages rewrite the run's
own keys, Athena statements carry a client request token per run and state (a retry finds the
query that already ran), PublishLatest recognises its own pointer.

Payloads are small: `$.run` (run id, source key), stage summaries, S3 URIs.
"""

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
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
from engagement import environment as env
from engagement.cache import CacheWriteThrottled
from engagement.knowledge_base import IngestionJobBusy
from engagement.layout import PLACES, PUBLISHED_VIEWS, Buckets, Run, sql_values
from engagement.shards import SHARD_FILES

import sql

RUN_ID = "$.run.run_id"
KNOWLEDGE_BASE_BUSY = IngestionJobBusy.__name__  # Lambda names an error by its exception class
CACHE_THROTTLED = CacheWriteThrottled.__name__
SHARD = "$.shard.shard"  # inside a shard's child execution: the manifest item's id (ItemSelector)
CHILD_RUN_ID = "$.run_id"
EXECUTION = "$$.Execution.Name"


def execution_identity() -> str:
    """Who holds the run lock and claimed the run id: the name and start time (a name may be
    reused 90 days after its execution closed; the start time tells the two apart)."""
    return sfn.JsonPath.format("{}@{}", sfn.JsonPath.string_at(EXECUTION), sfn.JsonPath.string_at("$$.Execution.StartTime"))


TRANSIENT = {
    "lambda": ["Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
               "Lambda.TooManyRequestsException"],
    "athena": ["Athena.TooManyRequestsException", "Athena.InternalServerException"],
    "ecs": ["ECS.AmazonECSException", "ECS.ServerException"],
    "dynamodb": ["DynamoDB.InternalServerErrorException", "DynamoDB.ProvisionedThroughputExceededException",
                 "DynamoDB.ThrottlingException"],
}
# Task time limits. bench/ml.py on 2 vCPU: 1M customers train in 96 s and score in 54 s; the limits
# leave room for 10M. Athena statements scan one run (10M rows: well under a minute). These .sync
# integrations send no heartbeats, so a timeout is the only guard; on it Step Functions stops the
# ECS task or the query.
TIMEOUTS = {"training": cdk.Duration.minutes(60), "inference": cdk.Duration.minutes(40),
            "athena": cdk.Duration.minutes(15)}
MACHINE_TIMEOUT = cdk.Duration.hours(2)


@dataclass(frozen=True, kw_only=True)
class FanOut:
    """The shards' size, and how many run at once: Inference tasks (Fargate vCPUs) and CacheLoad
    invocations (the cache table's write throughput)."""

    shard_rows: int
    ingest_concurrency: int
    inference_concurrency: int
    cache_load_concurrency: int


@dataclass(frozen=True, kw_only=True)
class EngagementPipelineProps:
    functions: dict[str, lambda_.IFunction]  # by stage: claim_run, ingest, validate, cache_load, …
    cluster: ecs.ICluster
    training: MlTask
    inference: MlTask
    task_security_group: ec2.ISecurityGroup
    buckets: dict[str, str]  # logical name -> bucket name (tokens)
    bucket_arns: dict[str, str]  # logical name -> bucket ARN (tokens)
    workgroup_name: str
    run_ledger: dynamodb.ITable
    topic: sns.ITopic
    encryption_key: kms.IKey
    fan_out: FanOut




class EngagementPipeline(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, props: EngagementPipelineProps) -> None:
        super().__init__(scope, construct_id)
        self.props = props
        # The run's addresses with "{}" for the run id: States.Format fills it at run time.
        self.run = Run("{}", Buckets(**props.buckets))
        self._catch_to = self._release_lock("ReleaseRunLockOnFailure", then=self._notify_failure())

        claim = self._lambda("ClaimRun", "claim_run", {
            "execution_name": sfn.JsonPath.string_at(EXECUTION), "execution": execution_identity(),
            "input": sfn.JsonPath.object_at("$"),
        }, ("run_id", "source_key"), result_path="$.run")
        ingest = self._chain([
            self._lambda("PlanIngest", "plan_ingest", {
                "run_id": sfn.JsonPath.string_at(RUN_ID), "source_key": sfn.JsonPath.string_at("$.run.source_key"),
            }, ("files",), result_path="$.upload"),
            self._ingest_files(),
            self._lambda("MergeIngest", "merge_shards", {
                "run_id": sfn.JsonPath.string_at(RUN_ID), "stage": "Ingest",
                "results": sfn.JsonPath.list_at("$.ingest_results")},
                ("rows_in", "rows_accepted", "rows_quarantined", "files", "report", "seconds"), result_path="$.ingest"),
        ])
        preparation = self._prepare_data()
        checks = self._validate_and_train()
        publish = self._chain([
            self._lambda("PlanShards", "plan_shards", {"run_id": sfn.JsonPath.string_at(RUN_ID)},
                         ("shards", "rows", "manifest"), result_path="$.shards"),
            self._score_shards(),
            self._lambda("MergeInference", "merge_shards", {
                "run_id": sfn.JsonPath.string_at(RUN_ID), "stage": "Inference",
                "results": sfn.JsonPath.list_at("$.shard_results")},
                ("rows_scored", "shards", "task_seconds", "slowest_shard_seconds"),
                result_path="$.inference"),
            self._register("RegisterPredictions", ["predictions"]),
            self._build_outputs(),
            self._register("RegisterOutputs", ["human_review", "final_results", "customer_features"]),
            *(self._athena(_view_state(view), statement, view.split(".")[0])
              for view, statement in PUBLISHED_VIEWS.items()),
            self._publish_latest(),
        ])
        succeed = self._release_lock("ReleaseRunLock", then=self._notify_success().next(sfn.Succeed(self, "Published")))
        quality_gate = sfn.Choice(self, "QualityGate").when(
            sfn.Condition.boolean_equals("$.checks.training.passed", True), publish.next(succeed),
        ).otherwise(self._release_lock("ReleaseRunLockOnGateFailure", then=self._notify_gate_failed()))
        self.definition = sfn.Chain.start(claim).next(ingest).next(preparation).next(checks).next(quality_gate)
        self.state_machine = self._state_machine()

    # --- stages -------------------------------------------------------------------------------

    def _prepare_data(self) -> sfn.Parallel:
        """The training, test and inference tables: three statements over the bronze rows that
        read nothing of each other's, so they run at once."""
        preparation = sfn.Parallel(self, "PrepareData", result_path=sfn.JsonPath.DISCARD)
        for state_id, statement in (("PrepareTrainingData", "prepare_training"), ("PrepareTestData", "prepare_test"),
                                    ("PrepareInferenceData", "prepare_inference")):
            preparation.branch(self._athena(state_id, statement, "engagement_raw", protect=False))
        self._protect(preparation)
        return preparation

    def _validate_and_train(self) -> sfn.Parallel:
        checks = sfn.Parallel(self, "ValidateAndTrain", result_path="$.checks",
                              result_selector={"validation.$": "$[0]", "training.$": "$[1]"})
        checks.branch(self._validate_files().next(self._lambda("MergeValidation", "merge_shards", {
            "run_id": sfn.JsonPath.string_at(RUN_ID), "stage": "DataValidation",
            "results": sfn.JsonPath.list_at("$.validation_results")},
            ("rows", "max_psi", "shifted_features", "report", "seconds"), protect=False)))
        checks.branch(self._ml_task("Training", self.props.training, TIMEOUTS["training"], {
            env.TRAINING_DATA_URI: "training_data", env.TEST_DATA_URI: "test_data", env.MODEL_REGISTRY_URI: "models",
            env.TRAINING_OUTPUT_URI: "training_summary", env.MODEL_CARD_URI: "model_card",
        }, protect=False).next(self._read_training_summary()))
        self._protect(checks)
        return checks

    def _build_outputs(self) -> sfn.Parallel:
        outputs = sfn.Parallel(self, "BuildOutputs", result_path="$.outputs",
                               result_selector={"cache.$": "$[3]", "knowledge_base.$": "$[4]"})
        outputs.branch(self._athena("CreateQaTable", "qa_review", "engagement_qa", protect=False))
        outputs.branch(self._athena("CreateResultsTable", "final_results", "engagement_analytics", protect=False))
        outputs.branch(self._athena("CreateCustomerFeaturesTable", "customer_features", "engagement_analytics",
                                    protect=False))
        outputs.branch(self._load_cache_shards().next(self._lambda("CheckCacheLoad", "merge_shards", {
            "run_id": sfn.JsonPath.string_at(RUN_ID), "stage": "CacheLoad",
            "results": sfn.JsonPath.list_at("$.cache_results"),
            "rows_scored": sfn.JsonPath.number_at("$.inference.rows_scored")},
            ("items_written", "shards", "seconds", "slowest_shard_seconds"),
            protect=False)))
        documents = self._lambda("KnowledgeBaseDocuments", "knowledge_base", {"run_id": sfn.JsonPath.string_at(RUN_ID)},
                                 ("documents", "location"), protect=False)
        # Bedrock refuses a sync while the data source's previous one runs: wait it out (about 2 h in all).
        documents.add_retry(errors=[KNOWLEDGE_BASE_BUSY], interval=cdk.Duration.minutes(1), max_attempts=10,
                            backoff_rate=1.5)
        outputs.branch(documents)
        self._protect(outputs)
        return outputs

    def _register(self, state_id: str, outputs: list[str]):
        return self._lambda(state_id, "register_run_tables", {"run_id": sfn.JsonPath.string_at(RUN_ID),
                                                              "outputs": outputs}, ("partitions",),
                            result_path=sfn.JsonPath.DISCARD)

    def _publish_latest(self):
        """The publish point: replaces the published pointer (one conditional PUT)."""
        return self._lambda("PublishLatest", "publish", {
            "run_id": sfn.JsonPath.string_at(RUN_ID),
            "execution_name": sfn.JsonPath.string_at(EXECUTION),
            "summary": {
                "rows_in": sfn.JsonPath.number_at("$.ingest.rows_in"),
                "rows_quarantined": sfn.JsonPath.number_at("$.ingest.rows_quarantined"),
                "engagement_r2": sfn.JsonPath.number_at("$.checks.training.engagement_r2"),
                "churn_roc_auc": sfn.JsonPath.number_at("$.checks.training.churn_roc_auc"),
                "cache_items": sfn.JsonPath.number_at("$.outputs.cache.items_written"),
            },
        }, ("previous_run_id", "pointer"), result_path="$.published")

    # --- fanned out over shards ---------------------------------------------------------------

    def _ingest_files(self):
        """One Ingest invocation per upload file (PlanIngest checked every header first)."""
        task = self._lambda_json("ingest", {"run_id.$": CHILD_RUN_ID, "source_key.$": "$.shard.key", "part.$": SHARD})
        return self._distributed_map("IngestFiles", "IngestFile", task, "$.ingest_results",
                                     self.props.fan_out.ingest_concurrency, manifest="ingest_files",
                                     done={"shard.$": SHARD, "seconds.$": "$.done.seconds"})

    def _validate_files(self):
        """DataValidation's profile of each bronze part (one per upload file); MergeValidation adds
        them up and reports."""
        task = self._lambda_json("validate", {"run_id.$": CHILD_RUN_ID, "shard.$": SHARD})
        return self._distributed_map("ValidateFiles", "ProfileFile", task, "$.validation_results",
                                     self.props.fan_out.ingest_concurrency, manifest="ingest_files",
                                     done={"shard.$": SHARD, "seconds.$": "$.done.seconds"}, protect=False)

    def _lambda_json(self, stage: str, payload: dict, extra_retries: tuple = ()) -> dict:
        """lambda:invoke inside a child execution, as the state itself (its grant: the stack's
        Distributed Map policy); its result's seconds are kept for the merge step."""
        return {
            "Type": "Task",
            "Resource": f"arn:{cdk.Aws.PARTITION}:states:::lambda:invoke",
            "Parameters": {"FunctionName": self.props.functions[stage].function_arn, "Payload": payload},
            "ResultSelector": {"seconds.$": "$.Payload.seconds"},
            "ResultPath": "$.done",
            "Retry": [_retry(TRANSIENT["lambda"], 5, 3), *extra_retries],
        }

    def _score_shards(self):
        """One Inference task per shard: it scores and explains its rows and writes its
        predictions file and summary part, both named by the shard."""
        environment = {
            env.INFERENCE_DATA_URI: self._child_uri("inference_data"),
            env.MODEL_REGISTRY_URI: self.run.uri("models").rstrip("/"),
            env.PREDICTIONS_URI: self._child_uri("predictions", SHARD_FILES["predictions"]),
            env.INFERENCE_OUTPUT_URI: self._child_uri("inference_shard_summaries",
                                                      SHARD_FILES["inference_shard_summaries"]),
            env.INFERENCE_SHARD: "States.JsonToString($.shard)", env.MODEL_VERSION: CHILD_RUN_ID,
        }
        task = self._ml_task_json(self.props.inference, TIMEOUTS["inference"], environment)
        return self._distributed_map("ScoreShards", "ScoreShard", task, "$.shard_results",
                                     self.props.fan_out.inference_concurrency)

    def _load_cache_shards(self):
        """One CacheLoad invocation per shard's predictions file. DynamoDB's throughput, not
        Lambda, bounds the pace: a throttled shard backs off and is retried whole."""
        task = self._lambda_json("cache_load", {"run_id.$": CHILD_RUN_ID, "shard.$": SHARD},
                                 (_retry([CACHE_THROTTLED], 15, 4),))
        task["ResultSelector"]["items_written.$"] = "$.Payload.items_written"
        return self._distributed_map("LoadCacheShards", "LoadCacheShard", task, "$.cache_results",
                                     self.props.fan_out.cache_load_concurrency,
                                     done={"shard.$": SHARD, "items_written.$": "$.done.items_written",
                                           "seconds.$": "$.done.seconds"},
                                     protect=False)

    def _distributed_map(self, state_id: str, task_id: str, task: dict, result_path: str, concurrency: int,
                         done: dict | None = None, protect: bool = True, manifest: str = "shard_manifest"):
        """A Distributed Map over a manifest of the run (the shards, or the upload's files); each
        child runs `task` and returns
        {"shard", ...}, or {"shard", "failed": {Error, Cause}} when the task failed after its
        retries (the merge step after the map fails the run naming the shard)."""
        manifest = self.run.location(manifest)
        # State names are unique across the whole machine, child processors included.
        child = {"StartAt": task_id, "States": {
            task_id: {**task, "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error",
                                         "Next": f"{task_id}Failed"}], "Next": f"{task_id}Done"},
            f"{task_id}Done": {"Type": "Pass", "Parameters": done or {"shard.$": SHARD}, "End": True},
            f"{task_id}Failed": {"Type": "Pass", "Parameters": {"shard.$": SHARD, "failed.$": "$.error"}, "End": True},
        }}
        state = sfn.CustomState(self, state_id, state_json={
            "Type": "Map",
            "Label": state_id,
            "ItemReader": {
                "Resource": f"arn:{cdk.Aws.PARTITION}:states:::s3:getObject",
                "ReaderConfig": {"InputType": "JSON"},
                "Parameters": {"Bucket": manifest.bucket,
                               "Key.$": sfn.JsonPath.format(manifest.key, sfn.JsonPath.string_at(RUN_ID))},
            },
            "ItemSelector": {"run_id.$": RUN_ID, "shard.$": "$$.Map.Item.Value"},
            "MaxConcurrency": concurrency,
            "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, **child},
            "ResultPath": result_path,
        })
        if protect:
            self._protect(state)
        return state

    def _child_uri(self, place: str, file: str = "") -> str:
        """A place's URI inside a shard's child execution (its input: run_id and shard)."""
        uri = self.run.uri(place) + file
        values = [sfn.JsonPath.string_at(CHILD_RUN_ID)] + ([sfn.JsonPath.string_at(SHARD)] if file else [])
        return sfn.JsonPath.format(uri, *values)

    # --- terminal paths -----------------------------------------------------------------------

    def _release_lock(self, state_id: str, *, then: sfn.IChainable) -> sfn.Chain:
        """Delete the lock if this execution holds it, then go on to `then`. A run that failed to
        take the lock finds it held by another execution: the condition fails, nothing is
        released, and the path still goes on to its notification."""
        release = tasks.DynamoDeleteItem(
            self, state_id, table=self.props.run_ledger,
            key={"record_id": tasks.DynamoAttributeValue.from_string("lock")},
            condition_expression="#execution = :execution",
            expression_attribute_names={"#execution": "execution"},
            expression_attribute_values={":execution": tasks.DynamoAttributeValue.from_string(execution_identity())},
            result_path=sfn.JsonPath.DISCARD,
        )
        release.add_retry(errors=TRANSIENT["dynamodb"], interval=cdk.Duration.seconds(2), max_attempts=3,
                          backoff_rate=2)
        release.add_catch(then, errors=["States.ALL"], result_path="$.lock_release_error")
        return sfn.Chain.start(release).next(then)

    def _notify_failure(self):
        return tasks.SnsPublish(
            self, "NotifyFailure", topic=self.props.topic, subject="Engagement pipeline FAILED",
            message=sfn.TaskInput.from_object({
                "status": "FAILED", "execution": sfn.JsonPath.string_at("$$.Execution.Id"),
                "error": sfn.JsonPath.string_at("$.error.Error"), "cause": sfn.JsonPath.string_at("$.error.Cause"),
            }),
            result_path=sfn.JsonPath.DISCARD,
        ).next(sfn.Fail(self, "PipelineFailed", error="EngagementPipelineFailed",
                        cause="A stage failed; the previous results stay published. See NotifyFailure."))

    def _notify_gate_failed(self):
        return tasks.SnsPublish(
            self, "NotifyQualityGateFailed", topic=self.props.topic, subject="Engagement pipeline: quality gate failed",
            message=sfn.TaskInput.from_object({
                "status": "QUALITY_GATE_FAILED", "execution": sfn.JsonPath.string_at("$$.Execution.Id"),
                "checks": sfn.JsonPath.object_at("$.checks.training.checks"),
            }),
            result_path=sfn.JsonPath.DISCARD,
        ).next(sfn.Fail(self, "QualityGateFailed", error="QualityGateFailed",
                        cause="Model quality or fairness below thresholds; nothing was published."))

    def _notify_success(self):
        return tasks.SnsPublish(
            self, "NotifySuccess", topic=self.props.topic, subject="Engagement pipeline succeeded",
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

    def _state_machine(self) -> sfn.StateMachine:
        self.log_group = logs.LogGroup(self, "Logs", encryption_key=self.props.encryption_key,
                                       retention=logs.RetentionDays.ONE_YEAR, removal_policy=cdk.RemovalPolicy.RETAIN)
        acknowledge_wildcard_resources(
            self, "lambda:InvokeFunction on each stage function's versions and aliases (ARN:*), as CDK grants it.",
            *(f"{function.function_arn}:*" for function in self.props.functions.values()),
        )
        return sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=None,
            definition_body=sfn.DefinitionBody.from_chainable(self.definition),
            timeout=MACHINE_TIMEOUT,
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
            comment="engagement-ml-pipeline: claim, ingest, prepare, validate and train, gate, score, publish",
        )

    # --- state builders -----------------------------------------------------------------------

    def _protect(self, state) -> None:
        state.add_catch(self._catch_to, result_path="$.error")

    @staticmethod
    def _chain(states: list) -> sfn.Chain:
        chain = sfn.Chain.start(states[0])
        for state in states[1:]:
            chain = chain.next(state)
        return chain

    def _lambda(self, state_id: str, stage: str, payload: dict, picks: tuple[str, ...],
                result_path: str | None = None, protect: bool = True):
        """lambda:invoke (the default integration), keeping only the named fields of the result."""
        task = tasks.LambdaInvoke(
            self, state_id, lambda_function=self.props.functions[stage],
            payload=sfn.TaskInput.from_object(payload),
            result_selector={f"{name}.$": f"$.Payload.{name}" for name in picks},
            result_path=result_path, retry_on_service_exceptions=False,
        )
        task.add_retry(errors=TRANSIENT["lambda"], interval=cdk.Duration.seconds(5), max_attempts=3, backoff_rate=2)
        if protect:
            self._protect(task)
        return task

    def _athena(self, state_id: str, statement: str, database: str, protect: bool = True):
        """athena:startQueryExecution.sync, written as the state itself: CDK's task adds S3 and Lake
        Formation permissions on every resource ("*"); this one's are the run layout's. The client
        request token makes a retry find the query that already ran instead of starting another."""
        text = " ".join(sql.load(statement).render(sql_values(self.run.buckets, "{}")).split())
        runtime_args = [sfn.JsonPath.string_at(RUN_ID)] * text.count("{}")
        query = {"QueryString.$": sfn.JsonPath.format(text, *runtime_args)} if runtime_args else {"QueryString": text}
        state = sfn.CustomState(self, state_id, state_json={
            "Type": "Task",
            "Resource": f"arn:{cdk.Aws.PARTITION}:states:::athena:startQueryExecution.sync",
            "Parameters": {
                **query,
                "ClientRequestToken.$": sfn.JsonPath.format(f"engagement-pipeline/{{}}/{state_id}",
                                                            sfn.JsonPath.string_at(RUN_ID)),
                "QueryExecutionContext": {"Database": database},
                "WorkGroup": self.props.workgroup_name,
            },
            # The query's id (for finding it in Athena's history), not its whole description.
            "ResultSelector": {"query_execution_id.$": "$.QueryExecution.QueryExecutionId"},
            "ResultPath": "$.last_query",
            "TimeoutSeconds": TIMEOUTS["athena"].to_seconds(),
        })
        state.add_retry(errors=TRANSIENT["athena"], interval=cdk.Duration.seconds(10), max_attempts=3, backoff_rate=2)
        if protect:
            self._protect(state)
        return state

    def _ml_task(self, state_id: str, ml: MlTask, timeout: cdk.Duration, places: dict, protect: bool = True):
        """The ML task as a state of the run: its container's S3 locations are run-layout places
        (or a file in one)."""
        environment = {name: self._uri(*((place,) if isinstance(place, str) else place))
                       for name, place in places.items()}
        environment[env.MODEL_VERSION] = sfn.JsonPath.string_at(RUN_ID)
        state = sfn.CustomState(self, state_id, state_json=self._ml_task_json(ml, timeout, environment))
        if protect:
            self._protect(state)
        return state

    def _ml_task_json(self, ml: MlTask, timeout: cdk.Duration, environment: dict[str, str]) -> dict:
        """ecs:runTask.sync, written as the state itself. It names the task definition's family, so
        it runs the latest revision: the ML stack registers a new one for every image without the
        pipeline depending on (and CloudFormation locking) a revision's ARN. Its permissions are
        the stack's (family-wide RunTask, this cluster's tasks only)."""
        subnets = self.props.cluster.vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED).subnet_ids
        return {
            "Type": "Task",
            "Resource": f"arn:{cdk.Aws.PARTITION}:states:::ecs:runTask.sync",
            "Parameters": {
                "Cluster": self.props.cluster.cluster_arn,
                "TaskDefinition": ml.task_definition.family,
                "LaunchType": "FARGATE",
                "PlatformVersion": ecs.FargatePlatformVersion.LATEST.value,
                "NetworkConfiguration": {"AwsvpcConfiguration": {
                    "Subnets": subnets, "SecurityGroups": [self.props.task_security_group.security_group_id],
                    "AssignPublicIp": "DISABLED"}},
                "Overrides": {"ContainerOverrides": [{
                    "Name": ml.container.container_name,
                    "Environment": [{"Name": name, **_value(value)} for name, value in environment.items()],
                }]},
            },
            # The task's ARN (to find its logs), not the whole description of the stopped task that
            # runTask.sync returns (the task object itself, not RunTask's {"Tasks": [...]}).
            "ResultSelector": {"task_arn.$": "$.TaskArn"},
            "ResultPath": "$.last_task",
            "TimeoutSeconds": timeout.to_seconds(),
            "Retry": [_retry(TRANSIENT["ecs"], 30, 2)],
        }

    def _read_training_summary(self):
        location = self.run.location("training_summary")
        place = PLACES["training_summary"]
        read = tasks.CallAwsService(
            self, "ReadTrainingSummary", service="s3", action="getObject", iam_action="s3:GetObject",
            parameters={"Bucket": location.bucket, "Key": sfn.JsonPath.format(location.key, sfn.JsonPath.string_at(RUN_ID))},
            # The same statement the run layout gives the state machine for this place.
            iam_resources=[f"{self.props.bucket_arns[place.bucket]}/{place.pattern}"],
            result_selector={"document.$": "States.StringToJson($.Body)"},
        )
        read.add_retry(errors=["S3.S3Exception", "S3.SdkClientException"], interval=cdk.Duration.seconds(5),
                       max_attempts=3, backoff_rate=2)
        # Only what the gate, the notifications and the pointer need travels on.
        return read.next(sfn.Pass(self, "ReadTrainingSummaryFields", parameters={
            "passed.$": "$.document.passed",
            "checks.$": "$.document.checks",
            "engagement_r2.$": "$.document.metrics.engagement.r2",
            "churn_roc_auc.$": "$.document.metrics.churn.roc_auc",
            "model_version.$": "$.document.model_version",
        }))

    def _uri(self, place: str, file: str = "") -> str:
        uri = self.run.uri(place).rstrip("/") if place == "models" else self.run.uri(place) + file
        return sfn.JsonPath.format(uri, sfn.JsonPath.string_at(RUN_ID)) if "{}" in uri else uri


def _value(value: str) -> dict:
    """An ECS environment value: a path or intrinsic function (`Value.$`), or a literal."""
    dynamic = sfn.JsonPath.is_encoded_json_path(value) or value.startswith(("$", "States."))
    return {"Value.$": value} if dynamic else {"Value": value}


def _retry(errors: list[str], interval_s: int, attempts: int) -> dict:
    return {"ErrorEquals": errors, "IntervalSeconds": interval_s, "MaxAttempts": attempts, "BackoffRate": 2}


def _view_state(view: str) -> str:
    """engagement_analytics.final_results -> CreateFinalResultsView."""
    return "Create" + "".join(part.capitalize() for part in view.split(".")[1].split("_")) + "View"
