"""Split generated customers into training / test / inference sets the way the pipeline does:
by a stable hash of customer_id (80/20), PII columns removed (the bronze layer tokenizes them)."""

import hashlib
from pathlib import Path

import numpy as np
import polars as pl

from engagement.schema import PII_COLUMNS

TRAINING_BUCKETS = 8  # of 10


def hash_bucket(customer_id: str) -> int:
    return int.from_bytes(hashlib.sha256(customer_id.encode()).digest()[:8], "big") % 10


def split_for_training(customers_parquet: Path, out: Path) -> dict[str, Path]:
    frame = pl.read_parquet(customers_parquet).drop(list(PII_COLUMNS))
    buckets = np.fromiter((hash_bucket(c) for c in frame["customer_id"]), dtype=np.int64, count=frame.height)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / f"{name}.parquet" for name in ("training", "test", "inference")}
    frame.filter(pl.Series(buckets < TRAINING_BUCKETS)).write_parquet(paths["training"])
    frame.filter(pl.Series(buckets >= TRAINING_BUCKETS)).write_parquet(paths["test"])
    frame.write_parquet(paths["inference"])
    return paths
