"""CacheLoad: one DynamoDB item per customer with the run's predictions, expiring after a week.

An item is `customer_id`, `run_id`, the TTL attribute and `prediction`: the customer's predictions
and reasons as one compact JSON document, which `/predict` returns as it is. Nothing queries inside
it, and one attribute instead of twenty keeps every write cheap: moto's DynamoDB spends time per
attribute (quadratic in their number), so a flat 22-attribute item made a 100K load take 80 s
locally against about 25 s for this shape.
"""

import json
import math
import time
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa

CACHE_DAYS = 7
PREDICTION_FIELDS = ("predicted_engagement_score", "churn_probability", "churn_flag", "ltv_p10_usd",
                     "ltv_p50_usd", "ltv_p90_usd", "content_interest_1", "content_interest_2",
                     "content_interest_3", "anomaly_score", "anomaly_flag", "segment_name", "reason_1_feature",
                     "reason_2_feature", "reason_3_feature", "churn_reason_1_feature", "churn_reason_2_feature",
                     "churn_reason_3_feature", "model_version")


def cache_items(predictions: pa.Table, *, run_id: str, ttl_attribute: str, now: float | None = None):
    expires = int((now or time.time()) + CACHE_DAYS * 86_400)
    for row in predictions.select(["customer_id", *PREDICTION_FIELDS]).to_pylist():
        customer_id = row.pop("customer_id")
        document = {key: _json_value(value) for key, value in row.items()}
        yield {"customer_id": customer_id, "run_id": run_id, ttl_attribute: expires,
               "prediction": json.dumps(document, separators=(",", ":"))}


def _json_value(value):
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else None
    return value


def load_cache(table_factory, items, workers: int = 4) -> int:
    """Batch-write the items from several threads, each with its own table resource (boto3
    resources are not thread-safe); the batch writer retries unprocessed items. Four threads
    overlap request building with DynamoDB's answers; more gained nothing locally."""
    items = list(items)
    shares = [items[i::workers] for i in range(workers)]

    def write(share: list[dict]) -> int:
        with table_factory().batch_writer(overwrite_by_pkeys=["customer_id"]) as batch:
            for item in share:
                batch.put_item(Item=item)
        return len(share)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return sum(pool.map(write, shares))
