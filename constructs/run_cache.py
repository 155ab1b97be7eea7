"""A DynamoDB cache of things computed per run: predictions behind `/predict`, answers behind `/ask`."""

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from constructs import Construct
from constructs.nag import acknowledge


class RunCache(Construct):
    """DynamoDB table keyed by `partition_key` and run_id: on-demand, CMK-encrypted, PITR, expiring items.

    Each run has its own items; readers ask for the published run's (the publish pointer names
    it), so a run's items never change what another run's readers see.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        encryption_key: kms.IKey,
        ttl_attribute: str,
        partition_key: str,
        rebuilt_by: str,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
        warm_writes_per_second: int | None = None,
    ) -> None:
        """`warm_writes_per_second`: writes a second the table serves from the start (pre-warmed),
        beyond the 4,000 a new on-demand table takes at once (None: not pre-warmed)."""
        super().__init__(scope, construct_id)
        self.ttl_attribute = ttl_attribute
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=partition_key, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="run_id", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=encryption_key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=ttl_attribute,
            deletion_protection=removal_policy == cdk.RemovalPolicy.RETAIN,
            removal_policy=removal_policy,
            warm_throughput=dynamodb.WarmThroughput(write_units_per_second=warm_writes_per_second)
            if warm_writes_per_second else None,
        )
        acknowledge(
            self.table,
            f"The cache is derived data, {rebuilt_by}; point-in-time recovery (35 days) covers accidental writes"
            " without an AWS Backup plan.",
            "HIPAA.Security-DynamoDBInBackupPlan",
            "NIST.800.53.R5-DynamoDBInBackupPlan",
        )
