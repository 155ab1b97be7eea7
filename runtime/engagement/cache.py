"""The prediction cache behind `/predict`: one DynamoDB item per customer and run.

CacheLoad stages the run's items under their own sort key (`run_id`); nothing a reader sees
changes until the run is published, because readers ask for the item of the published run
(`published_prediction`). Items expire CACHE_DAYS after they were written, so old runs clear
themselves.

An item is `customer_id`, `run_id`, the TTL attribute and `prediction`: one compact JSON document
with every model output, the top reasons of the engagement and churn models as
[feature, value, contribution] triples, the model version and when the row was scored. One
document instead of sixty attributes: nothing queries inside it, and the item stays under 1 KB
(one write unit); `/predict` names the triples' parts when it answers.

Writing is CPU-bound in the Lambda (a million items a run), so items are built directly in
DynamoDB's attribute-value form and sent with the low-level client's BatchWriteItem (25 a
request, several requests in flight), not through boto3's resource layer, which converts and
validates every value again on the way out.
"""

import json
import random
import tempfile
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from engagement import publish
from engagement.layout import Buckets
from engagement.predictions_schema import PREDICTION_COLUMN_NAMES, REASONS
from engagement.s3uri import S3Uri

# Three weekly schedule periods: /predict keeps serving the published run through two missed or
# failed runs in a row (a TTL equal to the period emptied the cache after one).
CACHE_DAYS = 21
TTL_ATTRIBUTE = "expires_at"  # the table's TTL attribute (DataStack declares it from here)
BATCH_ROWS = 5_000  # rows read, turned into items and written at a time: memory stays flat
WRITE_REQUEST_ITEMS = 25  # BatchWriteItem's limit
WRITE_ATTEMPTS = 8  # for items DynamoDB returns unprocessed (throttling), with jittered backoff
REASON_PARTS = ("feature", "value", "contribution")  # a reason's fields, in the order the item stores them
REASON_MODELS = {"engagement": "", "churn": "churn_"}  # model -> prefix of its reason columns
_REASON_ORDER = tuple(f"{prefix}reason_{i}_{part}" for prefix in REASON_MODELS.values()
                      for i in range(1, REASONS + 1) for part in REASON_PARTS)
OUTPUT_FIELDS = tuple(name for name in PREDICTION_COLUMN_NAMES
                      if name not in _REASON_ORDER and name not in ("customer_id", "model_version", "scored_at"))
PREDICTION_FIELDS = (*OUTPUT_FIELDS, *_REASON_ORDER, "model_version", "scored_at")  # read, in the document's order


class CacheWriteThrottled(Exception):
    """DynamoDB left items unprocessed through every attempt: the shard is retried whole (its
    puts are idempotent), never dropped."""


@dataclass(frozen=True)
class CacheTable:
    """Where CacheLoad writes: a low-level DynamoDB client (thread-safe) and the table's name."""

    client: Any
    name: str


def cache_items(batch: pa.RecordBatch | pa.Table, *, run_id: str, expires: int) -> Iterator[dict]:
    """Each row's item, in DynamoDB's attribute-value form."""
    documents = zip(*(_json_texts(batch.column(name)) for name in PREDICTION_FIELDS))
    for customer_id, values in zip(batch.column("customer_id").to_pylist(), documents):
        yield {"customer_id": {"S": customer_id}, "run_id": {"S": run_id}, TTL_ATTRIBUTE: {"N": str(expires)},
               "prediction": {"S": DOCUMENT % values}}


def _document_template() -> str:
    """The item's JSON document with a %s for each of PREDICTION_FIELDS, in that order."""
    outputs = ",".join(f'"{name}":%s' for name in OUTPUT_FIELDS)
    reasons = ",".join(f'"{model}":[' + ",".join("[%s,%s,%s]" for _ in range(REASONS)) + "]" for model in REASON_MODELS)
    return '{"outputs":{%s},"reasons":{%s},"model_version":%%s,"scored_at":%%s}' % (outputs, reasons)


DOCUMENT = _document_template()


def _json_texts(column: pa.Array | pa.ChunkedArray) -> list[str]:
    """A column's values as JSON texts, converted a column at a time (a million rows a run, sixty
    columns each): numbers rounded to 6 places, NaN and infinities as null, times in ISO 8601."""
    kind = column.type
    if pa.types.is_floating(kind):
        column = pc.if_else(pc.is_finite(column), pc.round(column, 6), None)
    if pa.types.is_floating(kind) or pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        return pc.fill_null(pc.cast(column, pa.string()), "null").to_pylist()
    if pa.types.is_timestamp(kind):
        column = pc.utf8_slice_codeunits(pc.strftime(column, format="%Y-%m-%dT%H:%M:%S"), 0, 19)  # whole seconds
    return ["null" if value is None else json.dumps(value) for value in column.to_pylist()]  # text, quoted


def load_cache(s3, table: CacheTable, predictions: S3Uri, *, run_id: str,
               now: float | None = None, workers: int = 4) -> int:
    """Stage every customer's item for `run_id`, streaming the predictions a batch at a time."""
    expires = int((now or time.time()) + CACHE_DAYS * 86_400)
    written = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for batch in _prediction_batches(s3, predictions):
            puts = [{"PutRequest": {"Item": item}}
                    for item in cache_items(batch, run_id=run_id, expires=expires)]
            requests = [puts[i:i + WRITE_REQUEST_ITEMS] for i in range(0, len(puts), WRITE_REQUEST_ITEMS)]
            written += sum(pool.map(lambda request: _write(table, request), requests))
    return written


def _write(table: CacheTable, puts: list[dict]) -> int:
    """One BatchWriteItem, retrying what DynamoDB leaves unprocessed."""
    pending = puts
    for attempt in range(WRITE_ATTEMPTS):
        answer = table.client.batch_write_item(RequestItems={table.name: pending})
        pending = answer.get("UnprocessedItems", {}).get(table.name, [])
        if not pending:
            return len(puts)
        time.sleep(random.uniform(0, 0.05 * 2 ** attempt))
    raise CacheWriteThrottled(f"{len(pending)} cache items still unprocessed after {WRITE_ATTEMPTS} attempts "
                              "(the table's write throughput; the state machine retries the shard)")


def published_prediction(s3, table, buckets: Buckets, customer_id: str) -> dict | None:
    """What `/predict` answers: the customer's cached outputs from the published run (None when
    there is none, or the customer is not in it); PublishedRunMissing before the first publish."""
    pointer = publish.read_pointer(s3, buckets)
    if pointer is None:
        raise PublishedRunMissing("no run has been published yet")
    item = table.get_item(Key={"customer_id": customer_id, "run_id": pointer["run_id"]}).get("Item")
    if item is None:
        return None
    document = json.loads(item["prediction"])
    if "outputs" not in document:  # staged before items carried every output: the published run stays readable
        document = _from_flat(document)
    reasons = {model: [dict(zip(REASON_PARTS, reason)) for reason in triples]
               for model, triples in document["reasons"].items()}
    return {"customer_id": customer_id, "run_id": item["run_id"], "model_version": document["model_version"],
            "scored_at": document["scored_at"], **document["outputs"], "reasons": reasons}


def _from_flat(flat: dict) -> dict:
    """An item of the earlier shape (flat outputs, three reason features per model, no values)."""
    reasons = {model: [[flat.pop(key), None, None] for i in range(1, REASONS + 1)
                       if (key := f"{prefix}reason_{i}_feature") in flat] for model, prefix in REASON_MODELS.items()}
    return {"outputs": {key: value for key, value in flat.items() if key != "model_version"}, "reasons": reasons,
            "model_version": flat.get("model_version"), "scored_at": None}


class PublishedRunMissing(Exception):
    """Nothing to answer from: no run has been published."""


def _prediction_batches(s3, predictions: S3Uri) -> Iterable[pa.RecordBatch]:
    """Every Parquet object under the predictions place, downloaded to /tmp one at a time and
    read in batches (the whole table never sits in memory)."""
    paginator = s3.get_paginator("list_objects_v2")
    keys = [item["Key"] for page in paginator.paginate(Bucket=predictions.bucket, Prefix=predictions.key)
            for item in page.get("Contents", []) if item["Key"].endswith(".parquet")]
    if not keys:
        raise FileNotFoundError(f"no predictions under {predictions}")
    for key in keys:
        with tempfile.NamedTemporaryFile(suffix=".parquet") as local:
            s3.download_fileobj(predictions.bucket, key, local)
            local.flush()
            yield from pq.ParquetFile(local.name).iter_batches(
                batch_size=BATCH_ROWS, columns=["customer_id", *PREDICTION_FIELDS])
