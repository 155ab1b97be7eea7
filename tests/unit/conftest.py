"""Fixtures for the ML tests: one small generated data set, split as the pipeline splits it."""

import hashlib

import numpy as np
import polars as pl
import pytest

from datagen.generator import GeneratorConfig
from datagen.writer import write_dataset
from engagement.schema import PII_COLUMNS


@pytest.fixture(scope="session")
def ml_data(tmp_path_factory):
    """6,000 customers: training.parquet (~80%), test.parquet (~20%), inference.parquet (all)."""
    out = tmp_path_factory.mktemp("ml_data")
    write_dataset(GeneratorConfig(rows=6_000, seed=21), out, progress=None)
    frame = pl.read_parquet(out / "customers.parquet").drop(list(PII_COLUMNS))
    bucket = np.array([int(hashlib.sha256(c.encode()).hexdigest()[:8], 16) % 10 for c in frame["customer_id"]])
    frame.filter(pl.Series(bucket < 8)).write_parquet(out / "training.parquet")
    frame.filter(pl.Series(bucket >= 8)).write_parquet(out / "test.parquet")
    frame.write_parquet(out / "inference.parquet")
    return out
