"""The prediction cache behind `/predict`: one DynamoDB item per customer and run.

CacheLoad stages the run's items under their own sort key (`run_id`); nothing a reader sees
changes until the run is published, because readers ask for the item of the published run
(`published_prediction`). Items expire CACHE_DAYS after they were written, so old runs clear
themselves.

An item is `customer_id`, `run_id`, the TTL attribute and `prediction`: the customer's outputs
and top reasons as one compact JSON document, which `/predict` returns as it is. One document
instead of twenty attributes: nothing queries inside it, and every write stays small.

Writing is CPU-bound in the Lambda (a million items a run), so items are built directly in
DynamoDB's attribute-value form and sent with the low-level client's BatchWriteItem (25 a
request, several requests in flight), not through boto3's resource layer, which converts and
validates every value again on the way out.
"""

import json
import math
import random
import tempfile
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from engagement import publish
from engagement.layout import Buckets
from engagement.s3uri import S3Uri

# Three weekly schedule periods: /predict keeps serving the published run through two missed or
# failed runs in a row (a TTL equal to the period emptied the cache after one).
CACHE_DAYS = 21
BATCH_ROWS = 5_000  # rows read, turned into items and written at a time: memory stays flat
WRITE_REQUEST_ITEMS = 25  # BatchWriteItem's limit
WRITE_ATTEMPTS = 8  # for items DynamoDB returns unprocessed (throttling), with jittered backoff
PREDICTION_FIELDS = ("predicted_engagement_score", "churn_probability", "churn_flag", "ltv_p10_usd",
                     "ltv_p50_usd", "ltv_p90_usd", "content_interest_1", "content_interest_2",
                     "content_interest_3", "anomaly_score", "anomaly_flag", "segment_name", "reason_1_feature",
                     "reason_2_feature", "reason_3_feature", "churn_reason_1_feature", "churn_reason_2_feature",
                     "churn_reason_3_feature", "model_version")


@dataclass(frozen=True)
class CacheTable:
    """Where CacheLoad writes: a low-level DynamoDB client (thread-safe) and the table's name."""

    client: Any
    name: str


def cache_items(batch: pa.RecordBatch | pa.Table, *, run_id: str, ttl_attribute: str, expires: int) -> Iterator[dict]:
    """Each row's item, in DynamoDB's attribute-value form."""
    for row in batch.select(["customer_id", *PREDICTION_FIELDS]).to_pylist():
        customer_id = row.pop("customer_id")
        document = {key: _json_value(value) for key, value in row.items()}
        yield {"customer_id": {"S": customer_id}, "run_id": {"S": run_id}, ttl_attribute: {"N": str(expires)},
               "prediction": {"S": json.dumps(document, separators=(",", ":"))}}


def _json_value(value):
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else None
    return value


def load_cache(s3, table: CacheTable, predictions: S3Uri, *, run_id: str, ttl_attribute: str,
               now: float | None = None, workers: int = 4) -> int:
    """Stage every customer's item for `run_id`, streaming the predictions a batch at a time."""
    expires = int((now or time.time()) + CACHE_DAYS * 86_400)
    written = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for batch in _prediction_batches(s3, predictions):
            puts = [{"PutRequest": {"Item": item}}
                    for item in cache_items(batch, run_id=run_id, ttl_attribute=ttl_attribute, expires=expires)]
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
    raise RuntimeError(f"{len(pending)} cache items still unprocessed after {WRITE_ATTEMPTS} attempts")


def published_prediction(s3, table, buckets: Buckets, customer_id: str) -> dict | None:
    """What `/predict` answers: the customer's cached outputs from the published run."""
    pointer = publish.read_pointer(s3, buckets)
    if pointer is None:
        return None
    item = table.get_item(Key={"customer_id": customer_id, "run_id": pointer["run_id"]}).get("Item")
    if item is None:
        return None
    return {"customer_id": customer_id, "run_id": item["run_id"], **json.loads(item["prediction"])}


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
