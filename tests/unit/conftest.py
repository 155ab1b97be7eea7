"""Fixtures for the ML tests: one small generated data set, split as the pipeline splits it."""

import pytest

from datagen.generator import GeneratorConfig
from datagen.split import split_for_training
from datagen.writer import write_dataset


@pytest.fixture(scope="session")
def ml_data(tmp_path_factory):
    """6,000 customers: training.parquet (~80%), test.parquet (~20%), inference.parquet (all)."""
    out = tmp_path_factory.mktemp("ml_data")
    write_dataset(GeneratorConfig(rows=6_000, seed=21), out, progress=None)
    split_for_training(out / "customers.parquet", out)
    return out
