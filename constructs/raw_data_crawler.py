"""A Glue crawler that catalogs what lands in the raw (bronze) bucket."""

import aws_cdk as cdk
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct
from constructs.nag import acknowledge_wildcard_resources


# What a crawler does to its database's tables and partitions.
CATALOG_ACTIONS = ["glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:CreateTable", "glue:UpdateTable",
                   "glue:GetPartitions", "glue:BatchGetPartition", "glue:BatchCreatePartition",
                   "glue:BatchUpdatePartition"]


class RawDataCrawler(Construct):
    """Crawler with its own least-privilege role and a KMS security configuration."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket: s3.IBucket,
        prefix: str,
        database_name: str,
        encryption_key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        self.role = self._role(bucket=bucket, prefix=prefix, database_name=database_name,
                               encryption_key=encryption_key)
        self.security_configuration = self._security_configuration(encryption_key)
        self.crawler = glue.CfnCrawler(
            self,
            "Crawler",
            role=self.role.role_arn,
            database_name=database_name,
            description="Catalogs raw customer uploads (on demand; the pipeline registers its own tables)",
            targets=glue.CfnCrawler.TargetsProperty(
                s3_targets=[glue.CfnCrawler.S3TargetProperty(path=f"s3://{bucket.bucket_name}/{prefix}")]
            ),
            crawler_security_configuration=self.security_configuration.name,
            schema_change_policy=glue.CfnCrawler.SchemaChangePolicyProperty(
                update_behavior="UPDATE_IN_DATABASE", delete_behavior="LOG"
            ),
        )

    def _role(self, *, bucket: s3.IBucket, prefix: str, database_name: str, encryption_key: kms.IKey) -> iam.Role:
        """Read the raw prefix, write this database's tables and the crawler's logs; nothing else."""
        stack = cdk.Stack.of(self)
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("glue.amazonaws.com"),
            description="Glue crawler over the raw customer data",
        )
        raw_objects = bucket.arn_for_objects(f"{prefix}*")
        tables = stack.format_arn(service="glue", resource="table", resource_name=f"{database_name}/*")
        crawler_logs = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name="/aws-glue/crawlers-role/*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        for statement in (
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[raw_objects]),
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{prefix}*"]}},
            ),
            # Decrypt the raw objects; encrypt what it writes (its logs, the catalog when it is encrypted).
            iam.PolicyStatement(actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
                                resources=[encryption_key.key_arn]),
            iam.PolicyStatement(
                actions=CATALOG_ACTIONS,
                resources=[
                    stack.format_arn(service="glue", resource="catalog"),
                    stack.format_arn(service="glue", resource="database", resource_name=database_name),
                    tables,
                ],
            ),
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:AssociateKmsKey"],
                resources=[crawler_logs, f"{crawler_logs}:*"],
            ),
        ):
            role.add_to_principal_policy(statement)
        acknowledge_wildcard_resources(
            role,
            "The crawler reads every object under the raw prefix, creates its tables at run time"
            " inside this one database, and writes to log groups Glue names at run time from the"
            " role and security configuration.",
            raw_objects,
            tables,
            crawler_logs,
            f"{crawler_logs}:*",
        )
        return role

    def _security_configuration(self, encryption_key: kms.IKey) -> glue.CfnSecurityConfiguration:
        """The crawler's S3, CloudWatch and bookmark encryption, with the platform key."""
        return glue.CfnSecurityConfiguration(
            self,
            "SecurityConfiguration",
            name=cdk.Names.unique_resource_name(self, max_length=120),
            encryption_configuration=glue.CfnSecurityConfiguration.EncryptionConfigurationProperty(
                s3_encryptions=[
                    glue.CfnSecurityConfiguration.S3EncryptionProperty(
                        s3_encryption_mode="SSE-KMS", kms_key_arn=encryption_key.key_arn
                    )
                ],
                cloud_watch_encryption=glue.CfnSecurityConfiguration.CloudWatchEncryptionProperty(
                    cloud_watch_encryption_mode="SSE-KMS", kms_key_arn=encryption_key.key_arn
                ),
                job_bookmarks_encryption=glue.CfnSecurityConfiguration.JobBookmarksEncryptionProperty(
                    job_bookmarks_encryption_mode="CSE-KMS", kms_key_arn=encryption_key.key_arn
                ),
            ),
        )
