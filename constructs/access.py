"""Least-privilege statements from the run layout, without wildcard actions.

CDK's grant_* methods add wildcard actions (s3:GetObject*, s3:List*, kms:GenerateDataKey*) and
reach whole buckets; these helpers name each action and scope each statement to the places and
tables `engagement.layout` says a stage touches. The wildcards left are the run id inside keys
and table names (runs are not known at deploy time); each is acknowledged on its grantee by ARN.
"""

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import IConstruct
from constructs.nag import acknowledge_wildcard_resources
from engagement.layout import CREATE, GLUE_ACCESS, LIST, LOOKUP, PARTITION, PLACES, READ, S3_ACCESS, WRITE, Table

S3_ACTIONS = {READ: ("s3:GetObject",),
              WRITE: ("s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts")}
# Athena, on the buckets it reads and writes as the caller: where they are, and its multipart uploads.
ATHENA_BUCKET_ACTIONS = ("s3:GetBucketLocation", "s3:ListBucketMultipartUploads")
GLUE_ACTIONS = {
    LOOKUP: ("glue:GetTable",),
    READ: ("glue:GetDatabase", "glue:GetTable", "glue:GetPartition", "glue:GetPartitions", "glue:BatchGetPartition"),
    CREATE: ("glue:CreateTable", "glue:UpdateTable"),
    PARTITION: ("glue:BatchCreatePartition",),
}
# SSE-KMS reads (Decrypt) and writes (GenerateDataKey), Secrets Manager reads, SNS publishes, and
# the DynamoDB tables under the key, which call KMS on the caller's behalf (Encrypt, DescribeKey too).
KEY_ACTIONS = ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey")


def allow_places(owner: IConstruct, grantee: iam.IGrantable, stage: str, bucket_arns: dict[str, str]) -> None:
    """What `stage` does to S3, as the run layout states it: one statement per action set."""
    by_actions: dict[tuple[str, ...], list[str]] = {}
    listed: dict[str, list[str]] = {}  # bucket -> patterns
    for place_name, kinds in S3_ACCESS[stage].items():
        place = PLACES[place_name]
        objects = f"{bucket_arns[place.bucket]}/{place.pattern}"
        actions = tuple(action for kind in kinds if kind != LIST for action in S3_ACTIONS[kind])
        if actions:
            by_actions.setdefault(actions, []).append(objects)
        if LIST in kinds or READ in kinds:  # a place only written is never listed
            listed.setdefault(place.bucket, []).extend(p for p in place.list_prefixes
                                                       if p not in listed.get(place.bucket, []))
    for bucket, patterns in listed.items():
        grantee.grant_principal.add_to_principal_policy(iam.PolicyStatement(
            actions=["s3:ListBucket"], resources=[bucket_arns[bucket]],
            conditions={"StringLike": {"s3:prefix": patterns}}))
    wildcards = []
    for actions, resources in by_actions.items():
        grantee.grant_principal.add_to_principal_policy(iam.PolicyStatement(actions=list(actions), resources=resources))
        wildcards += [r for r in resources if "*" in r]
    if wildcards:
        acknowledge_wildcard_resources(owner, f"{stage}: object keys carry the run id (runs are not known at deploy "
                                              "time); access stops at the run layout's places.", *wildcards)


def allow_athena_buckets(grantee: iam.IGrantable, stage: str, bucket_arns: dict[str, str]) -> None:
    """What Athena, running queries as `stage`'s role, does to the buckets themselves: finds where
    tables and results live and manages its multipart uploads."""
    buckets = sorted({PLACES[place].bucket for place in S3_ACCESS[stage]})
    grantee.grant_principal.add_to_principal_policy(iam.PolicyStatement(
        actions=list(ATHENA_BUCKET_ACTIONS), resources=[bucket_arns[bucket] for bucket in buckets]))


def allow_tables(owner: IConstruct, grantee: iam.IGrantable, stage: str) -> None:
    """What `stage` does to the Glue catalog, as the run layout states it."""
    stack = cdk.Stack.of(owner)
    by_actions: dict[tuple[str, ...], set[str]] = {}
    for table, kinds in GLUE_ACCESS[stage].items():
        actions = tuple(action for kind in kinds for action in GLUE_ACTIONS[kind])
        by_actions.setdefault(actions, set()).update(_table_arns(stack, table))
    wildcards = []
    for actions, resources in by_actions.items():
        grantee.grant_principal.add_to_principal_policy(iam.PolicyStatement(actions=list(actions),
                                                                            resources=sorted(resources)))
        wildcards += [r for r in resources if "*" in r]
    if wildcards:
        acknowledge_wildcard_resources(owner, f"{stage}: tables named after the run id (runs are not known at deploy "
                                              "time), inside the platform's databases only.", *sorted(set(wildcards)))


def _table_arns(stack: cdk.Stack, table: Table) -> list[str]:
    """Glue authorizes a table action on the catalog, the database and the table."""
    return [stack.format_arn(service="glue", resource="catalog"),
            stack.format_arn(service="glue", resource="database", resource_name=table.database),
            stack.format_arn(service="glue", resource="table", resource_name=f"{table.database}/{table.pattern}")]


def allow_key(grantee: iam.IGrantable, key_arn: str) -> None:
    """Use of one KMS key for SSE-KMS reads and writes (no key administration)."""
    grantee.grant_principal.add_to_principal_policy(iam.PolicyStatement(actions=list(KEY_ACTIONS), resources=[key_arn]))
