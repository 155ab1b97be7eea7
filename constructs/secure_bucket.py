"""An S3 bucket that meets the platform's storage baseline."""

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct
from constructs.nag import acknowledge

# Every bucket clears out failed multipart uploads and old object versions; versioning protects
# against overwrites, not against unbounded growth.
BASELINE_LIFECYCLE = (
    s3.LifecycleRule(
        id="AbortIncompleteUploads",
        abort_incomplete_multipart_upload_after=cdk.Duration.days(7),
    ),
    s3.LifecycleRule(
        id="ExpireOldVersions",
        noncurrent_version_expiration=cdk.Duration.days(90),
        noncurrent_versions_to_retain=3,
    ),
)


class SecureBucket(Construct):
    """SSE-KMS with bucket keys, versioned, private, TLS-only, access-logged, lifecycle-managed."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        encryption_key: kms.IKey,
        access_logs_bucket: s3.IBucket,
        lifecycle_rules: Sequence[s3.LifecycleRule] = (),
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=encryption_key,
            bucket_key_enabled=True,
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            server_access_logs_bucket=access_logs_bucket,
            server_access_logs_prefix=f"{construct_id}/",
            lifecycle_rules=[*BASELINE_LIFECYCLE, *lifecycle_rules],
            removal_policy=removal_policy,
        )
        acknowledge_no_replication(self.bucket)


def acknowledge_no_replication(bucket: s3.IBucket) -> None:
    acknowledge(
        bucket,
        "Cross-region replication needs a second region chosen per deployment; within the region,"
        " versioning, retained buckets and S3's multi-AZ durability protect the data.",
        "HIPAA.Security-S3BucketReplicationEnabled",
        "NIST.800.53.R5-S3BucketReplicationEnabled",
    )
