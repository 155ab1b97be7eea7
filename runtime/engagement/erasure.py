"""Erase one customer (the right to be forgotten): every copy of their data, in every run, every
version, every cache.

    python -m engagement.erasure CUSTOMER_ID [--dry-run] [--local-copy FILE ...]

ERASED lists every place a customer's data can be, and how each is erased; the tool walks it and
its test searches all of it (and everything else stored) for the customer afterwards:

- each S3 place of S3_PLACES: every version of every object, not only the current one. A current
  version that holds the customer is replaced by one without them; every version that held them
  (the replaced one, and older versions whatever the current one holds) is deleted;
- the prediction cache: the customer's items, every run;
- the answer cache: every answer of a run that held the customer (answers are recomputed on a miss);
- the knowledge base: a document that mentions the customer is rewritten without those lines, and
  the index is synced again so its vectors follow;
- local copies outside the cloud (`--local-copy`: the generated upload, say).

The run lock is held throughout, so no pipeline run reads a file half-way through. Trained models
hold no rows; the next run's models are trained without the customer.

Run it as an operator: deleting versions needs s3:DeleteObjectVersion, which no pipeline role has.
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
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from engagement import claim
from engagement.knowledge_base import Index, start_ingestion
from engagement.layout import BUCKETS, PLACES, SHARED_EXPORTS, Buckets, Place, bucket_export
from engagement.schema import ID_COLUMN

# S3 places that can hold a customer, by format ("text": a line that names the customer is theirs).
S3_PLACES = {"source": "csv", "quarantine": "jsonl", "bronze": "parquet", "training_data": "parquet",
             "test_data": "parquet", "inference_data": "parquet", "predictions": "parquet",
             "human_review": "parquet", "final_results": "parquet", "customer_features": "parquet",
             "knowledge_base_documents": "text", "query_results": "text"}
ERASED = {
    **{f"s3:{place}": f"every version of every object ({kind})" for place, kind in S3_PLACES.items()},
    "prediction_cache": "the customer's items, every run",
    "answer_cache": "every answer of a run that held the customer",
    "knowledge_base_index": "synced again when a document that mentioned the customer was rewritten",
    "local_copies": "files named with --local-copy (csv or parquet)",
}


@dataclass(frozen=True)
class Stores:
    """What the tool erases from: the buckets, the three DynamoDB tables (boto3 Table
    resources), the knowledge base (bedrock-agent client and its index; None: none deployed)."""

    s3: object
    buckets: Buckets
    prediction_cache: object
    answer_cache: object
    ledger: object
    agent: object | None = None
    index: Index | None = None


@dataclass
class Erasure:
    customer_id: str
    dry_run: bool
    objects: dict[str, int] = field(default_factory=dict)  # s3 URI (of a current version) -> rows removed
    versions_deleted: int = 0
    runs: set[str] = field(default_factory=set)  # runs whose data held the customer
    cache_items_deleted: int = 0
    answers_deleted: int = 0
    knowledge_base_synced: bool = False
    local_copies: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"customer_id": self.customer_id, "dry_run": self.dry_run, "rows_removed": sum(self.objects.values()),
                "objects": self.objects, "old_versions_deleted": self.versions_deleted, "runs": sorted(self.runs),
                "cache_items_deleted": self.cache_items_deleted, "answers_deleted": self.answers_deleted,
                "knowledge_base_synced": self.knowledge_base_synced, "local_copies": self.local_copies}


def erase_customer(stores: Stores, customer_id: str, *, dry_run: bool = False,
                   local_copies: tuple[Path, ...] = ()) -> dict:
    erasure = Erasure(customer_id, dry_run)
    operator = f"erasure@{time.time():.0f}"
    claim.acquire_lock(stores.ledger, run_id="erasure", execution=operator, lease_seconds=3600, now=time.time())
    try:
        documents_changed = False
        for place, kind in S3_PLACES.items():
            changed = _erase_place(stores, PLACES[place], kind, erasure)
            documents_changed |= changed and place == "knowledge_base_documents"
        erasure.cache_items_deleted = _erase_predictions(stores.prediction_cache, customer_id, dry_run)
        erasure.answers_deleted = _erase_answers(stores.answer_cache, erasure.runs, customer_id, dry_run)
        if documents_changed and not dry_run and stores.index is not None:
            start_ingestion(stores.agent, stores.index, f"erasure-{operator}")
            erasure.knowledge_base_synced = True
        for path in local_copies:
            erasure.local_copies[str(path)] = _erase_file(path, customer_id, dry_run)
    finally:
        stores.ledger.delete_item(Key={"record_id": claim.LOCK_RECORD}, ConditionExpression="#e = :e",
                                  ExpressionAttributeNames={"#e": "execution"},
                                  ExpressionAttributeValues={":e": operator})
    return erasure.to_dict()


# --- S3: every version ---------------------------------------------------------------------------

def _erase_place(stores: Stores, place: Place, kind: str, erasure: Erasure) -> bool:
    """Erase the customer from every version of every object at the place; True if any held them."""
    bucket, held = getattr(stores.buckets, place.bucket), False
    for key, version, latest in _versions(stores.s3, bucket, place):
        with tempfile.TemporaryFile() as original, tempfile.TemporaryFile() as kept:
            stores.s3.download_fileobj(bucket, key, original, ExtraArgs={"VersionId": version})
            original.seek(0)
            removed = WITHOUT[kind](original, kept, erasure.customer_id)
            if not removed:
                continue
            held = True
            erasure.runs.add(place.run_of(key) or "")
            if latest:
                erasure.objects[f"s3://{bucket}/{key}"] = removed
            if erasure.dry_run:
                continue
            if latest:
                kept.seek(0)
                stores.s3.upload_fileobj(kept, bucket, key)
            if version != "null":  # a versioned bucket keeps what was replaced: delete it
                stores.s3.delete_object(Bucket=bucket, Key=key, VersionId=version)
                erasure.versions_deleted += 1
    erasure.runs.discard("")
    return held


def _versions(s3, bucket: str, place: Place):
    """(key, version id, is latest) of every version at the place, every run ("null": unversioned)."""
    pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=place.root)
    found = [(v["Key"], v["VersionId"], v["IsLatest"]) for page in pages for v in page.get("Versions", [])
             if fnmatch.fnmatchcase(v["Key"], place.pattern)]
    return sorted(found, key=lambda item: not item[2])  # current versions first: rewritten before older ones go


def _without_csv(source, target, customer_id: str) -> int:
    """Uploaded rows, well-formed or not: a line holding the id as a whole token is theirs."""
    target.write(source.readline())  # the header
    return _without_lines(source, target, customer_id)


def _without_lines(source, target, customer_id: str) -> int:
    pattern, removed = _token(customer_id), 0
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


WITHOUT = {"csv": _without_csv, "jsonl": _without_jsonl, "parquet": _without_parquet, "text": _without_lines}


# --- caches, local copies ------------------------------------------------------------------------

def _erase_predictions(table, customer_id: str, dry_run: bool) -> int:
    items = table.query(KeyConditionExpression="customer_id = :c", ExpressionAttributeValues={":c": customer_id},
                        ProjectionExpression="customer_id, run_id")["Items"]
    if not dry_run:
        for item in items:
            table.delete_item(Key=item)
    return len(items)


def _erase_answers(table, runs: set[str], customer_id: str, dry_run: bool) -> int:
    """Answers of the runs that held the customer, and any other answer that names them."""
    pattern, doomed = _token(customer_id), []
    scan = {"ProjectionExpression": "question_id, run_id, reply"}
    while True:
        page = table.scan(**scan)
        doomed += [{"question_id": item["question_id"], "run_id": item["run_id"]} for item in page["Items"]
                   if item["run_id"] in runs or pattern.search(str(item.get("reply", "")).encode())]
        if "LastEvaluatedKey" not in page:
            break
        scan["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    if not dry_run:
        for key in doomed:
            table.delete_item(Key=key)
    return len(doomed)


def _erase_file(path: Path, customer_id: str, dry_run: bool) -> int:
    kind = {".csv": "csv", ".parquet": "parquet"}.get(path.suffix)
    if kind is None:
        raise SystemExit(f"error: --local-copy {path}: only .csv and .parquet files are erased")
    with path.open("rb") as original, tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as kept:
        removed = WITHOUT[kind](original, kept, customer_id)
    if removed and not dry_run:
        Path(kept.name).replace(path)
    else:
        Path(kept.name).unlink()
    return removed


# --- command line --------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    import boto3

    parser = argparse.ArgumentParser(prog="python -m engagement.erasure", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("customer_id")
    parser.add_argument("--stack", default="EngagementData", help="the data stack whose exports name the resources")
    parser.add_argument("--ai-stack", default="EngagementAi", help="the stack with the answer cache and knowledge base")
    parser.add_argument("--dry-run", action="store_true", help="count what would be erased; change nothing")
    parser.add_argument("--local-copy", type=Path, action="append", default=[],
                        help="a local file holding customers (csv or parquet) to erase them from too")
    args = parser.parse_args(argv)
    stores = _stores(boto3, args.stack, args.ai_stack)
    erased = erase_customer(stores, args.customer_id, dry_run=args.dry_run, local_copies=tuple(args.local_copy))
    print(json.dumps(erased, indent=2))
    return 0


def _stores(boto3, data_stack: str, ai_stack: str) -> Stores:
    cloudformation = boto3.client("cloudformation")
    exports = {e["Name"]: e["Value"] for page in cloudformation.get_paginator("list_exports").paginate()
               for e in page["Exports"]}

    def export(name: str) -> str:
        try:
            return exports[f"{data_stack}-{name}"]
        except KeyError:
            sys.exit(f"error: no export {data_stack}-{name}: is the {data_stack} stack deployed in this region?")

    try:
        [stack] = cloudformation.describe_stacks(StackName=ai_stack)["Stacks"]
    except cloudformation.exceptions.ClientError:
        sys.exit(f"error: no stack {ai_stack}: is it deployed in this region?")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    dynamodb = boto3.resource("dynamodb")
    return Stores(
        s3=boto3.client("s3"), buckets=Buckets(**{name: export(bucket_export(name, "Name")) for name in BUCKETS}),
        prediction_cache=dynamodb.Table(export(SHARED_EXPORTS["cache_table_name"])),
        answer_cache=dynamodb.Table(outputs["AnswerCacheTableName"]),
        ledger=dynamodb.Table(export(SHARED_EXPORTS["ledger_table_name"])), agent=boto3.client("bedrock-agent"),
        index=Index(outputs["KnowledgeBaseId"], outputs["KnowledgeBaseDataSourceId"]))


if __name__ == "__main__":
    sys.exit(main())
