"""Erase one customer (the right to be forgotten): every row of theirs, in every run, and the cache.

    python -m engagement.erasure CUSTOMER_ID [--stack EngagementData] [--dry-run]

Where a customer's rows can be is the run layout's business: the uploads and quarantined rows
(raw), bronze and the splits (processed), predictions, results and the QA sample. Each object that
holds the customer is rewritten without them, and its earlier versions (which still hold them)
are deleted; their cached predictions are deleted from DynamoDB. The run lock is held throughout,
so no pipeline run reads a file half-way through. Aggregates (reports, profiles, knowledge-base
documents) and trained models hold no row; the next run's models are trained without the customer.
Query results in the Athena results bucket expire after 30 days.

Run it as an operator: it needs s3:DeleteObjectVersion, which no pipeline role has.
"""

import argparse
import base64
import fnmatch
import json
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field

import pyarrow.compute as pc
import pyarrow.parquet as pq

from engagement import claim
from engagement.layout import BUCKETS, PLACES, SHARED_EXPORTS, Buckets, Place, bucket_export
from engagement.schema import ID_COLUMN

# Places holding customer rows, by format.
ROW_PLACES = {"source": "csv", "quarantine": "jsonl", "bronze": "parquet", "training_data": "parquet",
              "test_data": "parquet", "inference_data": "parquet", "predictions": "parquet",
              "human_review": "parquet", "final_results": "parquet",
              "customer_features": "parquet"}


@dataclass
class Erasure:
    customer_id: str
    dry_run: bool
    objects: dict[str, int] = field(default_factory=dict)  # s3 URI -> rows removed
    versions_deleted: int = 0
    cache_items_deleted: int = 0

    def to_dict(self) -> dict:
        return {"customer_id": self.customer_id, "dry_run": self.dry_run, "rows_removed": sum(self.objects.values()),
                "objects": self.objects, "old_versions_deleted": self.versions_deleted,
                "cache_items_deleted": self.cache_items_deleted}


def erase_customer(s3, cache_table, ledger, buckets: Buckets, customer_id: str, *, dry_run: bool = False) -> dict:
    erasure = Erasure(customer_id, dry_run)
    operator = f"erasure@{time.time():.0f}"
    claim.acquire_lock(ledger, run_id="erasure", execution=operator, lease_seconds=3600, now=time.time())
    try:
        for place, kind in ROW_PLACES.items():
            bucket = getattr(buckets, PLACES[place].bucket)
            for key in _keys(s3, bucket, PLACES[place]):
                removed = _rewrite(s3, bucket, key, kind, customer_id, dry_run)
                if removed:
                    erasure.objects[f"s3://{bucket}/{key}"] = removed
                    erasure.versions_deleted += 0 if dry_run else _delete_old_versions(s3, bucket, key)
        erasure.cache_items_deleted = _erase_cache(cache_table, customer_id, dry_run)
    finally:
        ledger.delete_item(Key={"record_id": claim.LOCK_RECORD}, ConditionExpression="#e = :e",
                           ExpressionAttributeNames={"#e": "execution"}, ExpressionAttributeValues={":e": operator})
    return erasure.to_dict()


def _keys(s3, bucket: str, place: Place):
    """Every run's objects at the place (a root such as runs/ also holds other places)."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=place.root):
        yield from (item["Key"] for item in page.get("Contents", []) if fnmatch.fnmatchcase(item["Key"], place.pattern))


def _rewrite(s3, bucket: str, key: str, kind: str, customer_id: str, dry_run: bool) -> int:
    """Rows of the customer in the object; unless a dry run, the object is replaced without them."""
    with tempfile.TemporaryFile() as original, tempfile.TemporaryFile() as kept:
        s3.download_fileobj(bucket, key, original)
        original.seek(0)
        removed = {"csv": _without_csv, "jsonl": _without_jsonl, "parquet": _without_parquet}[kind](
            original, kept, customer_id)
        if removed and not dry_run:
            kept.seek(0)
            s3.upload_fileobj(kept, bucket, key)
    return removed


def _without_csv(source, target, customer_id: str) -> int:
    """Uploaded rows, well-formed or not: a line holding the id as a whole token is theirs."""
    pattern = _token(customer_id)
    target.write(source.readline())  # the header
    removed = 0
    for line in source:
        if pattern.search(line):
            removed += 1
        else:
            target.write(line)
    return removed


def _without_jsonl(source, target, customer_id: str) -> int:
    """Quarantined entries: the record is the row as it came (possibly malformed)."""
    pattern, removed = _token(customer_id), 0
    for line in source:
        entry = json.loads(line)
        record = entry.get("record") or base64.b64decode(entry.get("record_base64", ""))
        if pattern.search(record.encode() if isinstance(record, str) else record):
            removed += 1
        else:
            target.write(line)
    return removed


def _token(customer_id: str) -> re.Pattern:
    """The id where no id character (letters, digits, '-', '_') touches it."""
    return re.compile(rb"(?<![A-Za-z0-9_-])" + re.escape(customer_id.encode()) + rb"(?![A-Za-z0-9_-])")


def _without_parquet(source, target, customer_id: str) -> int:
    table = pq.read_table(source)
    if ID_COLUMN not in table.column_names:
        return 0
    keep = pc.not_equal(table[ID_COLUMN], customer_id)
    kept = table.filter(pc.fill_null(keep, True))
    if kept.num_rows == table.num_rows:
        return 0
    pq.write_table(kept, target, compression="snappy")
    return table.num_rows - kept.num_rows


def _delete_old_versions(s3, bucket: str, key: str) -> int:
    versions = [v for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key)
                for v in page.get("Versions", []) if v["Key"] == key and not v["IsLatest"]]
    for version in versions:
        s3.delete_object(Bucket=bucket, Key=key, VersionId=version["VersionId"])
    return len(versions)


def _erase_cache(table, customer_id: str, dry_run: bool) -> int:
    items = table.query(KeyConditionExpression="customer_id = :c", ExpressionAttributeValues={":c": customer_id},
                        ProjectionExpression="customer_id, run_id")["Items"]
    if not dry_run:
        for item in items:
            table.delete_item(Key=item)
    return len(items)


def main(argv: list[str] | None = None) -> int:
    import boto3

    parser = argparse.ArgumentParser(prog="python -m engagement.erasure", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("customer_id")
    parser.add_argument("--stack", default="EngagementData", help="the data stack whose exports name the resources")
    parser.add_argument("--dry-run", action="store_true", help="count what would be erased; change nothing")
    args = parser.parse_args(argv)
    exports = {e["Name"]: e["Value"] for page in boto3.client("cloudformation").get_paginator("list_exports")
               .paginate() for e in page["Exports"]}

    def export(name: str) -> str:
        try:
            return exports[f"{args.stack}-{name}"]
        except KeyError:
            sys.exit(f"error: no export {args.stack}-{name}: is the {args.stack} stack deployed in this region?")

    buckets = Buckets(**{name: export(bucket_export(name, "Name")) for name in BUCKETS})
    dynamodb = boto3.resource("dynamodb")
    cache_table = dynamodb.Table(export(SHARED_EXPORTS["cache_table_name"]))
    ledger = dynamodb.Table(export(SHARED_EXPORTS["ledger_table_name"]))
    erased = erase_customer(boto3.client("s3"), cache_table, ledger, buckets, args.customer_id, dry_run=args.dry_run)
    print(json.dumps(erased, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
