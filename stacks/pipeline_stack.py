"""The pipeline: stage Lambdas, the state machine, its schedule, notifications and alarms."""

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct
from constructs.access import DELETE, READ, WRITE, allow_key, allow_objects
from constructs.encryption_key import EncryptionKey
from constructs.engagement_pipeline import EngagementPipeline, EngagementPipelineProps
from constructs.nag import acknowledge, acknowledge_wildcard_resources
from constructs.stage_function import StageFunction, StageFunctionProps
from stacks.data_exports import DataRefs
from stacks.ml_stack import MlStack
from stacks.network_stack import NetworkStack

REPO_ROOT = Path(__file__).resolve().parent.parent
# handler, description, timeout (minutes), memory (MB)
STAGES = {
    "pre_cleanup": ("handlers.pre_cleanup.handler", "PreCleanup: remove leftovers of this run", 5, 512),
    "ingest": ("handlers.ingest.handler", "Ingest: raw CSV to validated bronze Parquet with quarantine", 15, 3008),
    "validate": ("handlers.validate.handler", "DataValidation: quality report and drift (PSI)", 10, 3008),
    "cache_load": ("handlers.cache_load.handler", "CacheLoad: predictions to DynamoDB with a TTL", 15, 2048),
    "knowledge_base": ("handlers.knowledge_base.handler", "Knowledge-base documents for the assistant", 5, 512),
    "publish": ("handlers.publish.handler", "Publish: point latest at this run", 5, 512),
}
# What each stage may do, by bucket and prefix.
STAGE_ACCESS = {
    "pre_cleanup": [("raw", "customers/", READ)] + [
        (bucket, prefix, READ + DELETE) for bucket, prefix in (
            ("processed", "bronze/"), ("processed", "runs/"), ("raw", "quarantine/"), ("predictions", "predictions/"),
            ("qa", "human_review/"), ("results", "final_results/"), ("knowledge_base", "runs/"))],
    "ingest": [("raw", "customers/", READ), ("raw", "quarantine/", WRITE), ("processed", "bronze/", WRITE),
               ("processed", "runs/", WRITE)],
    "validate": [("processed", "bronze/", READ), ("processed", "runs/", READ + WRITE), ("results", "latest", READ)],
    "cache_load": [("predictions", "predictions/", READ)],
    "knowledge_base": [("processed", "runs/", READ), ("knowledge_base", "runs/", WRITE)],
    "publish": [("knowledge_base", "runs/", READ), ("knowledge_base", "latest/", READ + WRITE),
                ("results", "latest", READ + WRITE)],
}
# What Athena, running as the state machine, reads and writes.
ATHENA_ACCESS = [("processed", "bronze/", READ), ("processed", "runs/", READ + WRITE),
                 ("predictions", "predictions/", READ), ("qa", "human_review/", READ + WRITE),
                 ("results", "final_results/", READ + WRITE), ("athena_results", "query-results/", READ + WRITE)]


class PipelineStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, *, data: DataRefs, network: NetworkStack, ml: MlStack,
                 lambda_layer_dir: Path, min_rows: int, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        data_key = kms.Key.from_key_arn(self, "DataKey", data.key_arn)
        environment = {
            **{f"{name.upper()}_BUCKET": bucket for name, bucket in data.bucket_names.items()
               if name != "athena_results"},
            "CACHE_TABLE": data.cache_table_name,
            "CACHE_TTL_ATTRIBUTE": data.cache_ttl_attribute,
            "TOKENIZATION_SECRET_ARN": data.tokenization_secret_arn,
            "MIN_ROWS": str(min_rows),
            "MAX_QUARANTINE_SHARE": "0.05",
        }
        layer = lambda_.LayerVersion(
            self, "DependenciesLayer", code=lambda_.Code.from_asset(str(lambda_layer_dir)),
            compatible_runtimes=[lambda_.Runtime.PYTHON_3_11],
            description="pyarrow, numpy, Powertools (built from pinned manylinux wheels: make lambda-layer)",
        )
        code = lambda_.Code.from_asset(str(REPO_ROOT / "runtime"), exclude=["**/__pycache__", "*.md"])
        stage_functions = {
            name: StageFunction(self, "".join(p.capitalize() for p in name.split("_")) + "Function",
                                props=StageFunctionProps(
                                    handler=handler, description=description, code=code, layer=layer,
                                    vpc=network.vpc, encryption_key=data_key, environment=environment,
                                    timeout=cdk.Duration.minutes(minutes), memory_mb=memory))
            for name, (handler, description, minutes, memory) in STAGES.items()
        }
        functions = {name: stage.function for name, stage in stage_functions.items()}
        for name, stage in stage_functions.items():
            for bucket, prefix, actions in STAGE_ACCESS[name]:
                allow_objects(stage, stage.function, bucket_arn=data.bucket_arns[bucket], prefix=prefix,
                              actions=actions, list_versions=DELETE[1] in actions)
            allow_key(stage.function, data.key_arn)
        functions["ingest"].add_to_role_policy(iam.PolicyStatement(
            actions=["secretsmanager:GetSecretValue"], resources=[data.tokenization_secret_arn]))
        functions["cache_load"].add_to_role_policy(iam.PolicyStatement(
            actions=["dynamodb:BatchWriteItem", "dynamodb:PutItem", "dynamodb:DescribeTable"],
            resources=[data.cache_table_arn]))
        functions["pre_cleanup"].add_to_role_policy(iam.PolicyStatement(
            actions=["glue:GetTable", "glue:DeleteTable"],
            resources=[self.format_arn(service="glue", resource="catalog")] + [
                self.format_arn(service="glue", resource=kind, resource_name=name)
                for database in ("engagement_raw", "engagement_qa", "engagement_analytics")
                for kind, name in (("database", database), ("table", f"{database}/*"))]))
        acknowledge_run_tables(stage_functions["pre_cleanup"], self, ("engagement_raw", "engagement_qa",
                                                                      "engagement_analytics"), with_functions=False)

        # Its own key: CloudWatch alarms publish to the topic and need the key policy to allow them.
        topic_key = EncryptionKey(self, "NotificationKey", description="Engagement pipeline notifications").key
        topic_key.grant_encrypt_decrypt(iam.ServicePrincipal("cloudwatch.amazonaws.com"))
        self.topic = sns.Topic(self, "Notifications", display_name="Engagement pipeline", master_key=topic_key,
                               enforce_ssl=True)
        self.pipeline = EngagementPipeline(self, "Pipeline", props=EngagementPipelineProps(
            functions=functions, cluster=ml.cluster, training=ml.training, inference=ml.inference,
            task_security_group=ml.task_security_group, buckets=data.bucket_names,
            workgroup_name=data.workgroup_name, topic=self.topic, encryption_key=data_key,
        ))
        state_machine = self.pipeline.state_machine
        for bucket, prefix, actions in ATHENA_ACCESS:
            allow_objects(self.pipeline, state_machine, bucket_arn=data.bucket_arns[bucket], prefix=prefix,
                          actions=actions)
        allow_key(state_machine, data.key_arn)
        allow_key(state_machine, topic_key.key_arn)
        acknowledge_run_tables(self.pipeline, self, ("engagement_raw", "engagement_predictions", "engagement_qa",
                                                     "engagement_analytics"), with_functions=True)
        acknowledge(self.pipeline, "X-Ray segments, CloudWatch Logs delivery and ECS task status calls do not"
                    " support resource-level permissions.", "AwsSolutions-IAM5[Resource::*]")

        events.Rule(self, "WeeklySchedule", description="Run the engagement pipeline every Monday 03:00 UTC",
                    schedule=events.Schedule.cron(minute="0", hour="3", week_day="MON"),
                    targets=[targets.SfnStateMachine(state_machine, input=events.RuleTargetInput.from_object(
                        {"source_key": "customers/customers.csv"}))])
        for alarm_id, metric in (("FailedExecutions", state_machine.metric_failed()),
                                 ("TimedOutExecutions", state_machine.metric_timed_out())):
            alarm = cloudwatch.Alarm(
                self, alarm_id, metric=metric, threshold=1, evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING)
            alarm.add_alarm_action(cloudwatch_actions.SnsAction(self.topic))
        cdk.CfnOutput(self, "StateMachineArn", value=state_machine.state_machine_arn)
        cdk.CfnOutput(self, "NotificationTopicArn", value=self.topic.topic_arn)


def acknowledge_run_tables(owner, stack: cdk.Stack, databases: tuple[str, ...], *, with_functions: bool) -> None:
    """Per-run tables (training_<run>, final_results_<run>, …) cannot be named in advance."""
    arns = [stack.format_arn(service="glue", resource="table", resource_name=f"{database}/*") for database in databases]
    if with_functions:  # CDK's Athena task policy also names user-defined functions per database
        arns += [stack.format_arn(service="glue", resource="userDefinedFunction", resource_name=f"{database}/*")
                 for database in databases]
    acknowledge_wildcard_resources(owner, "Tables are created and replaced per run (the run id is in the name)"
                                          " inside these databases only.", *arns)
