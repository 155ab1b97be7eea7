"""The bucket that receives S3 server access logs from every other bucket."""

import aws_cdk as cdk
from aws_cdk import aws_s3 as s3
from constructs import Construct
from constructs.nag import acknowledge, acknowledge_checkov
from constructs.secure_bucket import acknowledge_no_replication


class AccessLogsBucket(Construct):
    """Private, TLS-only, versioned log sink with S3-managed encryption.

    S3 server access logging cannot deliver to a bucket whose default encryption is SSE-KMS
    (only SSE-S3 is supported for log delivery), so this one bucket uses SSE-S3.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        retention: cdk.Duration,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireLogs",
                    expiration=retention,
                    noncurrent_version_expiration=cdk.Duration.days(30),
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(7),
                )
            ],
            removal_policy=removal_policy,
        )
        sink = "This is the access-log sink; logging it into itself would loop."
        acknowledge(self.bucket, sink, "AwsSolutions-S1", "HIPAA.Security-S3BucketLoggingEnabled",
                    "NIST.800.53.R5-S3BucketLoggingEnabled")
        acknowledge_checkov(self.bucket, sink, "CKV_AWS_18")
        acknowledge(
            self.bucket,
            "S3 server access log delivery supports only SSE-S3 on the target bucket.",
            "HIPAA.Security-S3DefaultEncryptionKMS",
            "NIST.800.53.R5-S3DefaultEncryptionKMS",
        )
        acknowledge_no_replication(self.bucket)
