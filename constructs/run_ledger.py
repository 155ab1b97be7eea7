"""The run ledger: the pipeline's run lock and the record of every run id ever claimed."""

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from constructs import Construct
from constructs.nag import acknowledge


class RunLedger(Construct):
    """DynamoDB table keyed by `record_id`: on demand, CMK-encrypted, PITR, retained.

    Small and written a few times per run; it must outlive every run, since a claimed run id may
    never be claimed again.
    """

    KEY = "record_id"

    def __init__(self, scope: Construct, construct_id: str, *, encryption_key: kms.IKey,
                 removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self, "Table",
            partition_key=dynamodb.Attribute(name=self.KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=encryption_key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True),
            deletion_protection=removal_policy == cdk.RemovalPolicy.RETAIN,
            removal_policy=removal_policy,
        )
        acknowledge(
            self.table,
            "The ledger is a few items (the lock, one record per run); point-in-time recovery (35 days) covers"
            " accidental writes without an AWS Backup plan.",
            "HIPAA.Security-DynamoDBInBackupPlan",
            "NIST.800.53.R5-DynamoDBInBackupPlan",
        )
