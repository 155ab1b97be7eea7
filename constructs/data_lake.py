"""The platform's buckets: medallion layers, model registry, outputs, and their access logs."""

from collections.abc import Mapping

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


def _erase(rule_id: str, prefix: str, kept: cdk.Duration) -> s3.LifecycleRule:
    """Personal data: gone `kept` after it was written, and its overwritten versions a week later."""
    return s3.LifecycleRule(id=rule_id, prefix=prefix, expiration=kept,
                            noncurrent_version_expiration=cdk.Duration.days(7))


class DataLake(Construct):
    """Nine buckets; all but the access-log sink are SSE-KMS under `encryption_key`.

    Retention follows how each layer is used: the raw bucket's personal data (uploads,
    quarantined rows) is kept for `personal_data` (prefix -> how long) and no longer; processed
    (silver) data, per-run staging and Athena query results are re-derivable and expire; the model
    registry keeps every version; outputs tier down to Infrequent Access and are kept.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        encryption_key: kms.IKey,
        personal_data: Mapping[str, cdk.Duration],
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

        self.raw = bucket("Raw", _tier_down(30), *(
            _erase("Erase" + "".join(part.capitalize() for part in prefix.strip("/").split("/")), prefix, kept)
            for prefix, kept in personal_data.items()))
        self.processed = bucket("Processed", _expire(90))
        self.models = bucket("Models")
        self.predictions = bucket("Predictions", _tier_down(30))
        self.results = bucket("Results", _tier_down(90))
        self.qa = bucket("Qa", _tier_down(90))
        self.knowledge_base = bucket("KnowledgeBase")
        self.athena_results = bucket("AthenaResults", _expire(30))
