"""What DataStack shares with the stacks that use its data, by stable export name.

Consumers import plain names and ARNs (Fn::ImportValue) instead of holding DataStack's
constructs: they write their own least-privilege statements and never edit DataStack's
resources (no key- or bucket-policy changes, no cross-stack cycles), and their policies read
predictably (`{"Fn::ImportValue": "EngagementData-ProcessedBucketArn"}/runs/*`).
"""

from dataclasses import dataclass

import aws_cdk as cdk

BUCKETS = ("raw", "processed", "models", "predictions", "results", "qa", "knowledge_base", "athena_results")


@dataclass(frozen=True)
class DataRefs:
    bucket_names: dict[str, str]
    bucket_arns: dict[str, str]
    key_arn: str
    cache_table_name: str
    cache_table_arn: str
    cache_ttl_attribute: str
    tokenization_secret_arn: str
    workgroup_name: str


def export_data(stack: cdk.Stack, values: dict[str, str]) -> str:
    """One CfnOutput per value, exported as <stack name>-<Name>; returns the export prefix."""
    for name, value in values.items():
        cdk.CfnOutput(stack, f"Export{name}", value=value, export_name=f"{stack.stack_name}-{name}")
    return stack.stack_name


def import_data(producer: cdk.Stack, cache_ttl_attribute: str) -> DataRefs:
    """Fn::ImportValue tokens, usable in any stack that depends on `producer`."""

    def value(name: str) -> str:
        return cdk.Fn.import_value(f"{producer.stack_name}-{name}")

    return DataRefs(
        bucket_names={b: value(f"{_pascal(b)}BucketName") for b in BUCKETS},
        bucket_arns={b: value(f"{_pascal(b)}BucketArn") for b in BUCKETS},
        key_arn=value("DataKeyArn"),
        cache_table_name=value("CacheTableName"),
        cache_table_arn=value("CacheTableArn"),
        cache_ttl_attribute=cache_ttl_attribute,
        tokenization_secret_arn=value("TokenizationSecretArn"),
        workgroup_name=value("WorkgroupName"),
    )


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def export_names(buckets: dict, key_arn: str, table, secret_arn: str, workgroup_name: str) -> dict[str, str]:
    values = {}
    for name, bucket in buckets.items():
        values[f"{_pascal(name)}BucketName"] = bucket.bucket_name
        values[f"{_pascal(name)}BucketArn"] = bucket.bucket_arn
    values.update({"DataKeyArn": key_arn, "CacheTableName": table.table_name, "CacheTableArn": table.table_arn,
                   "TokenizationSecretArn": secret_arn, "WorkgroupName": workgroup_name})
    return values
