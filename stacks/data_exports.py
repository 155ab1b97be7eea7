"""What DataStack shares with the stacks that use its data, by stable export name.

Consumers import plain names and ARNs (Fn::ImportValue) instead of holding DataStack's
constructs: they write their own least-privilege statements and never edit DataStack's
resources (no key- or bucket-policy changes, no cross-stack cycles), and their policies read
predictably (`{"Fn::ImportValue": "EngagementData-ProcessedBucketArn"}/runs/*`).
"""

from dataclasses import dataclass

import aws_cdk as cdk
from engagement.layout import BUCKETS, SHARED_EXPORTS, bucket_export


@dataclass(frozen=True)
class DataRefs:
    bucket_names: dict[str, str]
    bucket_arns: dict[str, str]
    key_arn: str
    cache_table_name: str
    cache_table_arn: str
    ledger_table_name: str
    ledger_table_arn: str
    tokenization_secret_arn: str
    workgroup_name: str



def export_data(stack: cdk.Stack, buckets: dict, shared: dict[str, str]) -> None:
    """One CfnOutput per value, exported as <stack name>-<Name>: bucket names and ARNs, and the
    `shared` values by DataRefs field."""
    values = {}
    for name in BUCKETS:
        values[bucket_export(name, "Name")] = buckets[name].bucket_name
        values[bucket_export(name, "Arn")] = buckets[name].bucket_arn
    values.update({SHARED_EXPORTS[field]: value for field, value in shared.items()})
    for name, value in values.items():
        cdk.CfnOutput(stack, f"Export{name}", value=value, export_name=f"{stack.stack_name}-{name}")


def import_data(producer: cdk.Stack) -> DataRefs:
    """Fn::ImportValue tokens, usable in any stack that depends on `producer`."""

    def value(name: str) -> str:
        return cdk.Fn.import_value(f"{producer.stack_name}-{name}")

    return DataRefs(
        bucket_names={b: value(bucket_export(b, "Name")) for b in BUCKETS},
        bucket_arns={b: value(bucket_export(b, "Arn")) for b in BUCKETS},
        **{field: value(name) for field, name in SHARED_EXPORTS.items()},
    )

