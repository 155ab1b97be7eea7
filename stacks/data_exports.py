"""What DataStack shares with the stacks that use its data, by stable export name.

Consumers import plain names and ARNs (Fn::ImportValue) instead of holding DataStack's
constructs: they write their own least-privilege statements and never edit DataStack's
resources (no key- or bucket-policy changes, no cross-stack cycles), and their policies read
predictably (`{"Fn::ImportValue": "EngagementData-ProcessedBucketArn"}/runs/*`).
"""

from dataclasses import dataclass

import aws_cdk as cdk
from engagement.layout import BUCKETS


@dataclass(frozen=True)
class DataRefs:
    bucket_names: dict[str, str]
    bucket_arns: dict[str, str]
    key_arn: str
    cache_table_name: str
    cache_table_arn: str
    cache_ttl_attribute: str
    ledger_table_name: str
    ledger_table_arn: str
    tokenization_secret_arn: str
    workgroup_name: str


# Export name (after "<stack>-") of each DataRefs field that is not per bucket.
SHARED = {"key_arn": "DataKeyArn", "cache_table_name": "CacheTableName", "cache_table_arn": "CacheTableArn",
          "ledger_table_name": "LedgerTableName", "ledger_table_arn": "LedgerTableArn",
          "tokenization_secret_arn": "TokenizationSecretArn", "workgroup_name": "WorkgroupName"}


def export_data(stack: cdk.Stack, buckets: dict, shared: dict[str, str]) -> None:
    """One CfnOutput per value, exported as <stack name>-<Name>: bucket names and ARNs, and the
    `shared` values by DataRefs field."""
    values = {}
    for name in BUCKETS:
        values[f"{_pascal(name)}BucketName"] = buckets[name].bucket_name
        values[f"{_pascal(name)}BucketArn"] = buckets[name].bucket_arn
    values.update({SHARED[field]: value for field, value in shared.items()})
    for name, value in values.items():
        cdk.CfnOutput(stack, f"Export{name}", value=value, export_name=f"{stack.stack_name}-{name}")


def import_data(producer: cdk.Stack, cache_ttl_attribute: str) -> DataRefs:
    """Fn::ImportValue tokens, usable in any stack that depends on `producer`."""

    def value(name: str) -> str:
        return cdk.Fn.import_value(f"{producer.stack_name}-{name}")

    return DataRefs(
        bucket_names={b: value(f"{_pascal(b)}BucketName") for b in BUCKETS},
        bucket_arns={b: value(f"{_pascal(b)}BucketArn") for b in BUCKETS},
        cache_ttl_attribute=cache_ttl_attribute,
        **{field: value(name) for field, name in SHARED.items()},
    )


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))
