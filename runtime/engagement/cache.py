"""CacheLoad: one DynamoDB item per customer with the run's predictions, expiring after a week."""

import math
import time
from decimal import Decimal

import pyarrow as pa

CACHE_DAYS = 7
ITEM_COLUMNS = ("predicted_engagement_score", "churn_probability", "churn_flag", "ltv_p10_usd", "ltv_p50_usd",
                "ltv_p90_usd", "content_interest_1", "content_interest_2", "content_interest_3", "anomaly_score",
                "anomaly_flag", "segment_name", "reason_1_feature", "reason_2_feature", "reason_3_feature",
                "churn_reason_1_feature", "churn_reason_2_feature", "churn_reason_3_feature", "model_version")


def cache_items(predictions: pa.Table, *, run_id: str, ttl_attribute: str, now: float | None = None):
    expires = int((now or time.time()) + CACHE_DAYS * 86_400)
    rows = predictions.select(["customer_id", *ITEM_COLUMNS]).to_pylist()
    for row in rows:
        item = {key: _dynamo(value) for key, value in row.items() if value is not None}
        item["run_id"] = run_id
        item[ttl_attribute] = expires
        yield item


def _dynamo(value):
    if isinstance(value, float):
        return Decimal(str(round(value, 6))) if math.isfinite(value) else None
    return value


def load_cache(table_factory, items, workers: int = 8) -> int:
    """Batch-write the items from several threads, each with its own table resource (boto3
    resources are not thread-safe); the batch writer retries unprocessed items."""
    from concurrent.futures import ThreadPoolExecutor

    items = list(items)
    shares = [items[i::workers] for i in range(workers)]

    def write(share: list[dict]) -> int:
        with table_factory().batch_writer(overwrite_by_pkeys=["customer_id"]) as batch:
            for item in share:
                batch.put_item(Item=item)
        return len(share)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return sum(pool.map(write, shares))
