"""The platform's buckets: medallion layers, model registry, outputs, and their access logs."""

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct
from constructs.access_logs_bucket import AccessLogsBucket
from constructs.secure_bucket import SecureBucket


def _tier_down(after_days: int) -> s3.LifecycleRule:
    return s3.LifecycleRule(
        id="TierDown",
        transitions=[
            s3.Transition(
                storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                transition_after=cdk.Duration.days(after_days),
            )
        ],
    )


def _expire(after_days: int) -> s3.LifecycleRule:
    return s3.LifecycleRule(id="Expire", expiration=cdk.Duration.days(after_days))


class DataLake(Construct):
    """Nine buckets; all but the access-log sink are SSE-KMS under `encryption_key`.

    Retention follows how each layer is used: raw (bronze) data is the system of record and is
    kept; processed (silver) data, per-run staging and Athena query results are re-derivable
    and expire; the model registry keeps every version; outputs tier down to Infrequent Access.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        encryption_key: kms.IKey,
        access_log_retention: cdk.Duration = cdk.Duration.days(365),
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = AccessLogsBucket(
            self, "AccessLogs", retention=access_log_retention, removal_policy=removal_policy
        ).bucket

        def bucket(bucket_id: str, *rules: s3.LifecycleRule) -> s3.Bucket:
            return SecureBucket(
                self,
                bucket_id,
                encryption_key=encryption_key,
                access_logs_bucket=self.access_logs,
                lifecycle_rules=rules,
                removal_policy=removal_policy,
            ).bucket

        self.raw = bucket("Raw", _tier_down(30))
        self.processed = bucket("Processed", _expire(90))
        self.models = bucket("Models")
        self.predictions = bucket("Predictions", _tier_down(30))
        self.results = bucket("Results", _tier_down(90))
        self.qa = bucket("Qa", _tier_down(90))
        self.knowledge_base = bucket("KnowledgeBase")
        self.athena_results = bucket("AthenaResults", _expire(30))
