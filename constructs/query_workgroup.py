"""An Athena workgroup: the pipeline's, and the assistant's own."""

import aws_cdk as cdk
from aws_cdk import aws_athena as athena
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct
from constructs.nag import acknowledge_checkov


class QueryWorkgroup(Construct):
    """KMS-encrypted results in one bucket and a per-query scan cutoff.

    The configuration is not enforced: Athena fails every CTAS that names its `external_location`
    in a workgroup that enforces it, and the pipeline's tables must live in the run layout's
    places. What enforcement would guard stays guarded: results default to this bucket, encrypted
    with the key; the buckets' own default encryption and policies hold for every object; and each
    role may write only its own places (engagement.layout)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        results_bucket: s3.IBucket,
        results_prefix: str,
        encryption_key: kms.IKey,
        bytes_scanned_cutoff_per_query: int,
        description: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            # CloudFormation requires a name; derive it from the construct path instead of fixing one.
            name=cdk.Names.unique_resource_name(self, max_length=128),
            description=description,
            state="ENABLED",
            recursive_delete_option=False,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=False,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=bytes_scanned_cutoff_per_query,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version="Athena engine version 3"
                ),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{results_bucket.bucket_name}/{results_prefix}",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=encryption_key.key_arn
                    ),
                ),
            ),
        )
        acknowledge_checkov(self, "Not enforced: Athena fails a CTAS that names its external_location in a workgroup"
                                  " that enforces its configuration, and the pipeline's tables live in the run"
                                  " layout's places. Results still default to the encrypted results bucket, and every"
                                  " bucket encrypts with the KMS key and admits only its roles' places.", "CKV_AWS_82")
        self.workgroup_name = self.workgroup.ref
