"""DataValidation's mergeable profile: shards (or batches) add up to the single pass."""

import io
import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from datagen.generator import GeneratorConfig
from datagen.writer import write_dataset
from engagement import validation
from engagement.ingest import ingest_csv
from engagement.tokenize import Tokenizer


@pytest.fixture(scope="module")
def bronze(tmp_path_factory):
    folder = tmp_path_factory.mktemp("validation")
    write_dataset(GeneratorConfig(rows=5_000, seed=3), folder, progress=None)
    with (folder / "customers.csv").open("rb") as source, (folder / "bronze.parquet").open("wb") as out:
        ingest_csv(source, bronze=out, quarantine=io.BytesIO(), tokenizer=Tokenizer(b"k" * 32), source_name="t")
    return pq.read_table(folder / "bronze.parquet")


def as_json(report: dict) -> dict:
    return json.loads(json.dumps(report, default=str))


def test_shards_merged_give_exactly_the_single_pass_report_and_drift(bronze):
    baseline = validation.feature_profile(validation.profile_batch(bronze.slice(0, 2_500)))
    single = validation.profile_batch(bronze)
    merged = None
    for start in range(0, bronze.num_rows, 1_234):  # uneven shards
        merged = validation.merge(merged, validation.profile_batch(bronze.slice(start, 1_234)))
    for profile in (single, merged):
        assert validation.feature_profile(profile)["features"]  # JSON-ready
    assert as_json(validation.feature_profile(merged)) == as_json(validation.feature_profile(single))
    assert as_json(validation.validate(merged, baseline, baseline_run="b", min_rows=1)) == \
        as_json(validation.validate(single, baseline, baseline_run="b", min_rows=1))


def test_duplicates_across_shards_are_counted(bronze):
    first, again = bronze.slice(0, 100), bronze.slice(50, 100)
    merged = validation.merge(validation.profile_batch(first), validation.profile_batch(again))
    report = validation.quality_report(merged, min_rows=1)
    assert report["duplicate_ids"] == 50 and "50 duplicate customer_id values" in report["problems"]


def test_duplicates_in_stored_parts_are_counted_a_bucket_at_a_time(bronze):
    reads = []
    parts = []
    for table in (bronze.slice(0, 100), bronze.slice(50, 100), bronze.slice(120, 10)):
        counts, ids = validation.to_parts(validation.profile_batch(table))
        parts.append(validation.from_parts(counts, lambda low, high, ids=ids: reads.append(high - low) or ids[low:high]))
    merged = validation.merge(validation.merge(parts[0], parts[1]), parts[2])
    assert validation.duplicate_ids(merged) == 50 + 10
    # no read ever holds more than a bucket of a part's ids, and empty buckets are not fetched
    assert max(reads) < 100 * validation.ID_BYTES and len(reads) <= 3 * validation.ID_BUCKETS


def test_percentiles_from_the_histogram_are_within_a_bin_of_the_exact_ones(bronze):
    profile = validation.feature_profile(validation.profile_batch(bronze))
    for name in ("total_connections", "avg_session_duration_min", "age", "transaction_revenue_month"):
        values = bronze[name].drop_null().to_numpy().astype(float)
        feature = profile["features"][name]
        for q in (10, 50, 90):
            exact = float(np.quantile(values, q / 100))
            # a bin is 1/1000 of log1p(high - low): about 1.7% of the value for the widest contract range
            assert feature["percentiles"][f"p{q}"] == pytest.approx(exact, rel=0.03, abs=0.02), (name, q)


def test_drift_sees_a_shift_and_not_a_resample(bronze):
    baseline = validation.feature_profile(validation.profile_batch(bronze.slice(0, 2_500)))
    same = validation.drift_report(validation.profile_batch(bronze.slice(2_500)), baseline, "b")
    assert same["shifted"] == [] and same["max_psi"] < 0.1
    doubled = bronze.set_column(bronze.schema.get_field_index("avg_session_duration_min"), "avg_session_duration_min",
                                [np.clip(bronze["avg_session_duration_min"].to_numpy(zero_copy_only=False) * 3, 0, 600)])
    moved = validation.drift_report(validation.profile_batch(doubled), baseline, "b")
    assert moved["shifted"] == ["avg_session_duration_min"]


def test_a_baseline_written_before_fixed_bins_is_said_plainly():
    old = {"rows": 10, "features": {"age": {"edges": [20.0, 30.0], "shares": [0.3, 0.3, 0.4]}}}
    report = validation.drift_report({"features": {}}, old, "older-run")
    assert report["features"] == {} and "predates fixed-bin histograms" in report["note"]


def test_a_profile_kept_as_parts_merges_as_it_was(bronze):
    """How a bronze part's profile travels from its child execution to MergeValidation."""
    halves = [validation.profile_batch(bronze.slice(0, 3_000)), validation.profile_batch(bronze.slice(3_000))]
    travelled = []
    for half in halves:
        counts, ids = validation.to_parts(half)
        travelled.append(validation.from_parts(json.loads(json.dumps(counts)), lambda low, high, ids=ids: ids[low:high]))
    merged = validation.merge(*travelled)
    single = validation.profile_batch(bronze)
    assert as_json(validation.validate(merged, None, baseline_run=None, min_rows=1)) == \
        as_json(validation.validate(single, None, baseline_run=None, min_rows=1))
    assert as_json(validation.feature_profile(merged)) == as_json(validation.feature_profile(single))
