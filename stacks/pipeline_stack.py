"""The pipeline: stage Lambdas, the state machine, its schedule, notifications and alarms."""

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct
from constructs.access import allow_athena_buckets, allow_key, allow_places, allow_tables
from constructs.encryption_key import EncryptionKey
from constructs.engagement_pipeline import MACHINE_TIMEOUT, EngagementPipeline, EngagementPipelineProps, FanOut
from constructs.knowledge_base import KnowledgeBase
from constructs.nag import acknowledge, acknowledge_checkov, acknowledge_wildcard_resources
from constructs.stage_function import StageFunction, StageFunctionProps
from engagement import environment as env
from engagement.layout import DEFAULT_UPLOAD_KEY
from stacks.data_exports import DataRefs
from stacks.ml_stack import MlStack
from stacks.network_stack import NetworkStack

REPO_ROOT = Path(__file__).resolve().parent.parent
# stage: handler, description, timeout (minutes), memory (MB)
STAGES = {
    "claim_run": ("handlers.claim_run.handler", "ClaimRun: take the run lock; refuse a run id already used", 2, 512),
    "plan_ingest": ("handlers.plan_ingest.handler", "PlanIngest: the upload's files, every header checked first",
                    2, 512),
    "ingest": ("handlers.ingest.handler", "Ingest: one raw CSV to validated bronze Parquet with quarantine", 15, 3008),
    "validate": ("handlers.validate.handler", "DataValidation: one bronze part's mergeable profile", 10, 3008),
    "plan_shards": ("handlers.plan_shards.handler", "PlanShards: the run's shards, from the inference data's footers",
                    2, 512),
    # MergeShards holds DataValidation's ids (8 bytes a customer, twice while they are counted)
    "merge_shards": ("handlers.merge_shards.handler", "MergeShards: a fanned-out stage's shards, checked and merged",
                     5, 1024),
    "cache_load": ("handlers.cache_load.handler", "CacheLoad: stage one shard's predictions in DynamoDB", 15, 1024),
    "knowledge_base": ("handlers.knowledge_base.handler", "Knowledge-base documents for the assistant", 5, 512),
    "register_run_tables": ("handlers.register_run_tables.handler",
                            "RegisterRunTables: the run's outputs as partitions of the by-run tables", 2, 512),
    "publish": ("handlers.publish.handler", "PublishLatest: point the published pointer at this run", 2, 512),
}
SCHEDULE = events.Schedule.cron(minute="0", hour="3", week_day="MON")  # weekly: see cache.CACHE_DAYS
ATHENA_ACTIONS = ["athena:StartQueryExecution", "athena:GetQueryExecution", "athena:StopQueryExecution"]


class PipelineStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, *, data: DataRefs, network: NetworkStack | None,
                 ml: MlStack, lambda_layer_dir: Path, min_rows: int, knowledge_base: KnowledgeBase, fan_out: FanOut,
                 stage_concurrency: int | None = None, notification_key_arn: str | None = None,
                 stage_memory_mb: int | None = None, **kwargs) -> None:
        """`network`: the VPC the stage Lambdas run in (None: outside any VPC); `stage_concurrency`:
        executions reserved for each stage function (None: none); `notification_key_arn`: a key for
        the notification topic instead of the stack's own (its policy must admit CloudWatch);
        `stage_memory_mb`: every stage function's memory (None: each its own, STAGES)."""
        super().__init__(scope, construct_id, **kwargs)
        data_key = kms.Key.from_key_arn(self, "DataKey", data.key_arn)
        self._stage_concurrency, self._stage_memory_mb = stage_concurrency, stage_memory_mb
        functions = self._stage_functions(data, network, lambda_layer_dir, data_key,
                                          _stage_environment(data, min_rows=min_rows, shard_rows=fan_out.shard_rows))
        documents = functions["knowledge_base"]  # it starts the knowledge base's sync of the run's documents
        documents.add_environment(env.KNOWLEDGE_BASE_ID, knowledge_base.knowledge_base_id)
        documents.add_environment(env.KNOWLEDGE_BASE_DATA_SOURCE_ID, knowledge_base.data_source_id)
        documents.add_to_role_policy(iam.PolicyStatement(actions=["bedrock:StartIngestionJob"],
                                                         resources=[knowledge_base.arn]))

        # Its own key: CloudWatch alarms publish to the topic and need the key policy to allow them.
        if notification_key_arn:
            topic_key = kms.Key.from_key_arn(self, "NotificationKey", notification_key_arn)
        else:
            topic_key = EncryptionKey(self, "NotificationKey", description="Engagement pipeline notifications").key
            topic_key.grant_encrypt_decrypt(iam.ServicePrincipal("cloudwatch.amazonaws.com"))
        self.topic = sns.Topic(self, "Notifications", display_name="Engagement pipeline", master_key=topic_key,
                               enforce_ssl=True)
        ledger = dynamodb.Table.from_table_attributes(self, "RunLedger", table_name=data.ledger_table_name,
                                                      encryption_key=data_key)
        self.pipeline = EngagementPipeline(self, "Pipeline", props=EngagementPipelineProps(
            functions=functions, cluster=ml.cluster, training=ml.training, inference=ml.inference,
            task_security_group=ml.task_security_group, buckets=data.bucket_names, bucket_arns=data.bucket_arns,
            workgroup_name=data.workgroup_name, run_ledger=ledger, topic=self.topic, encryption_key=data_key,
            fan_out=fan_out,
        ))
        self._grant_state_machine(data, topic_key)
        self._grant_ml_tasks(ml)
        self._schedule_and_alarms()

    def _stage_functions(self, data: DataRefs, network: NetworkStack | None, layer_dir: Path, data_key: kms.IKey,
                         environment: dict[str, str]) -> dict[str, lambda_.IFunction]:
        layer = lambda_.LayerVersion(
            self, "DependenciesLayer", code=lambda_.Code.from_asset(str(layer_dir)),
            compatible_runtimes=[lambda_.Runtime.PYTHON_3_11],
            description="pyarrow, numpy, Powertools (built from pinned manylinux wheels: make lambda-layer)",
        )
        code = lambda_.Code.from_asset(str(REPO_ROOT / "runtime"), exclude=["**/__pycache__", "*.md"])
        functions = {}
        for stage, (handler, description, minutes, memory) in STAGES.items():
            function = StageFunction(self, "".join(p.capitalize() for p in stage.split("_")) + "Function",
                                     props=StageFunctionProps(
                                         handler=handler, description=description, code=code, layer=layer,
                                         vpc=network and network.vpc,
                                         security_group=network and network.workload_security_group,
                                         encryption_key=data_key, environment=environment,
                                         timeout=cdk.Duration.minutes(minutes),
                                         memory_mb=self._stage_memory_mb or memory,
                                         reserved_concurrency=self._stage_concurrency))
            allow_places(function, function.function, stage, data.bucket_arns)
            allow_key(function.function, data.key_arn)
            functions[stage] = function.function
        for stage in ("claim_run", "register_run_tables"):
            allow_tables(functions[stage], functions[stage], stage)
        functions["ingest"].add_to_role_policy(iam.PolicyStatement(
            actions=["secretsmanager:GetSecretValue"], resources=[data.tokenization_secret_arn]))
        functions["claim_run"].add_to_role_policy(iam.PolicyStatement(
            actions=["dynamodb:PutItem", "dynamodb:GetItem"], resources=[data.ledger_table_arn]))
        functions["cache_load"].add_to_role_policy(iam.PolicyStatement(  # cache.py writes only in batches
            actions=["dynamodb:BatchWriteItem"], resources=[data.cache_table_arn]))
        return functions

    def _grant_state_machine(self, data: DataRefs, topic_key: kms.IKey) -> None:
        """Athena runs the statements as the state machine's role: its S3 and Glue access is the run
        layout's "state_machine" stage, and its Athena access is the one workgroup."""
        state_machine = self.pipeline.state_machine
        allow_places(self.pipeline, state_machine, "state_machine", data.bucket_arns)
        allow_tables(self.pipeline, state_machine, "state_machine")
        allow_athena_buckets(state_machine, "state_machine", data.bucket_arns)
        state_machine.add_to_role_policy(iam.PolicyStatement(actions=ATHENA_ACTIONS, resources=[self.format_arn(
            service="athena", resource="workgroup", resource_name=data.workgroup_name)]))
        allow_key(state_machine, data.key_arn)
        allow_key(state_machine, topic_key.key_arn)
        self._grant_distributed_maps()
        reason = ("The one statement on Resource * holds X-Ray's PutTraceSegments, PutTelemetryRecords,"
                  " GetSamplingRules and GetSamplingTargets and CloudWatch Logs' CreateLogDelivery, GetLogDelivery,"
                  " UpdateLogDelivery, DeleteLogDelivery, ListLogDeliveries, PutResourcePolicy,"
                  " DescribeResourcePolicies and DescribeLogGroups (execution logging): none supports resource-level"
                  " permissions. No data action is on *.")
        acknowledge(self.pipeline, reason, "AwsSolutions-IAM5[Resource::*]")
        acknowledge_checkov(state_machine.role, reason, "CKV_AWS_111")

    def _grant_distributed_maps(self) -> None:
        """A Distributed Map runs each shard as a child execution of this state machine, as its role:
        it starts them, watches and stops them, and invokes CacheLoad (a state written as JSON, so
        no task construct grants it). Its own policy, apart from the role's default one: the
        state machine depends on that, and this one names the state machine."""
        state_machine = self.pipeline.state_machine
        children = self.format_arn(service="states", resource="execution", arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                                   resource_name=f"{state_machine.state_machine_name}/*")
        policy = iam.Policy(self, "DistributedMapPolicy", roles=[state_machine.role], statements=[
            iam.PolicyStatement(actions=["states:StartExecution"], resources=[state_machine.state_machine_arn]),
            iam.PolicyStatement(actions=["states:DescribeExecution", "states:StopExecution"], resources=[children]),
            iam.PolicyStatement(actions=["lambda:InvokeFunction"],
                                resources=[self.pipeline.props.functions[stage].function_arn
                                           for stage in ("ingest", "validate", "cache_load")]),
        ])
        acknowledge_wildcard_resources(
            policy, "The Distributed Maps' child executions of this state machine (execution ARNs are"
            " made by Step Functions: <machine>/<map run>:<id>).", children)

    def _grant_ml_tasks(self, ml: MlStack) -> None:
        """What ecs:runTask.sync needs: run any revision of the two families (the state names the
        family), pass their roles to ECS, watch and stop tasks in this cluster, and the managed
        rule through which Step Functions learns that a task stopped."""
        state_machine = self.pipeline.state_machine
        in_cluster = {"ArnEquals": {"ecs:cluster": ml.cluster.cluster_arn}}
        families = [self.format_arn(service="ecs", resource="task-definition", resource_name=f"{task.family}:*")
                    for task in (ml.training.task_definition, ml.inference.task_definition)]
        state_machine.add_to_role_policy(iam.PolicyStatement(actions=["ecs:RunTask"], resources=families,
                                                             conditions=in_cluster))
        cluster_tasks = self.format_arn(service="ecs", resource="task", resource_name="*")
        state_machine.add_to_role_policy(iam.PolicyStatement(actions=["ecs:DescribeTasks", "ecs:StopTask"],
                                                             resources=[cluster_tasks], conditions=in_cluster))
        acknowledge_wildcard_resources(
            self.pipeline, "Every revision of the training and inference families (the state names the family, so"
            " ECS runs the latest), only in this cluster; and the tasks of this cluster, which the state machine"
            " starts and must watch and stop (task ids are not known in advance).", *families, cluster_tasks)
        roles = [role.role_arn for task in (ml.training, ml.inference)
                 for role in (task.task_definition.task_role, task.task_definition.execution_role)]
        state_machine.add_to_role_policy(iam.PolicyStatement(
            actions=["iam:PassRole"], resources=roles,
            conditions={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}))
        state_machine.add_to_role_policy(iam.PolicyStatement(
            actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
            resources=[self.format_arn(service="events", resource="rule",
                                       resource_name="StepFunctionsGetEventsForECSTaskRule")]))

    def _schedule_and_alarms(self) -> None:
        state_machine = self.pipeline.state_machine
        events.Rule(self, "WeeklySchedule", description="Run the engagement pipeline every Monday 03:00 UTC",
                    schedule=SCHEDULE,
                    targets=[targets.SfnStateMachine(state_machine, input=events.RuleTargetInput.from_object(
                        {"source_key": DEFAULT_UPLOAD_KEY}))])
        alarms = []
        for alarm_id, metric in (("FailedExecutions", state_machine.metric_failed()),
                                 ("TimedOutExecutions", state_machine.metric_timed_out())):
            alarm = cloudwatch.Alarm(
                self, alarm_id, metric=metric, threshold=1, evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING)
            alarm.add_alarm_action(cloudwatch_actions.SnsAction(self.topic))
            alarms.append(alarm.alarm_arn)
        # A topic policy replaces SNS's default one: CloudWatch publishes as its service principal,
        # admitted for these alarms only (the topic's key admits it too).
        self.topic.add_to_resource_policy(iam.PolicyStatement(
            sid="CloudWatchAlarmsPublish", actions=["sns:Publish"], resources=[self.topic.topic_arn],
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            conditions={"ArnEquals": {"aws:SourceArn": alarms}, "StringEquals": {"aws:SourceAccount": self.account}}))
        cdk.CfnOutput(self, "StateMachineArn", value=state_machine.state_machine_arn)
        cdk.CfnOutput(self, "NotificationTopicArn", value=self.topic.topic_arn)


def _stage_environment(data: DataRefs, *, min_rows: int, shard_rows: int) -> dict[str, str]:
    """What every stage function reads at cold start (engagement.stages.Settings and its tables)."""
    return {
        **env.bucket_variables(data.bucket_names),
        env.CACHE_TABLE: data.cache_table_name,
        env.RUN_LEDGER_TABLE: data.ledger_table_name,
        env.RUN_LOCK_LEASE_SECONDS: str(int(MACHINE_TIMEOUT.to_seconds()) + 600),  # the machine's timeout, and slack
        env.TOKENIZATION_SECRET_ARN: data.tokenization_secret_arn,
        env.MIN_ROWS: str(min_rows),
        env.SHARD_ROWS: str(shard_rows),
    }
