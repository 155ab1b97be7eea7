"""Least-privilege statements without wildcard actions.

CDK's grant_* methods add wildcard actions (s3:GetObject*, s3:List*, kms:GenerateDataKey*);
these helpers name each action and scope objects to one prefix. The one wildcard left, the
object key under the prefix, is acknowledged on the grantee with the reason.
"""

from aws_cdk import aws_iam as iam
from constructs import IConstruct
from constructs.nag import acknowledge_wildcard_resources

READ = ("s3:GetObject",)
WRITE = ("s3:PutObject", "s3:AbortMultipartUpload")
DELETE = ("s3:DeleteObject", "s3:DeleteObjectVersion")


def allow_objects(owner: IConstruct, grantee: iam.IGrantable, *, bucket_arn: str, prefix: str,
                  actions: tuple[str, ...], list_versions: bool = False) -> None:
    """`actions` on objects under `prefix`, and listing that prefix."""
    objects = f"{bucket_arn}/{prefix}*"
    grantee.grant_principal.add_to_principal_policy(iam.PolicyStatement(actions=list(actions), resources=[objects]))
    grantee.grant_principal.add_to_principal_policy(iam.PolicyStatement(
        actions=["s3:ListBucket", *(["s3:ListBucketVersions"] if list_versions else [])],
        resources=[bucket_arn],
        conditions={"StringLike": {"s3:prefix": [f"{prefix}*"]}},
    ))
    acknowledge_wildcard_resources(
        owner, f"Object keys under {prefix} are created per run (run id in the key); access stops at that prefix.",
        objects,
    )


def allow_key(grantee: iam.IGrantable, key_arn: str) -> None:
    """Use of one KMS key for SSE-KMS reads and writes (no key administration)."""
    grantee.grant_principal.add_to_principal_policy(iam.PolicyStatement(
        actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"], resources=[key_arn]))
