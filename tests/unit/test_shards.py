"""Shards: the manifest PlanShards writes from the inference data's footers."""

import io
import json

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from moto import mock_aws

from engagement import shards, stages
from engagement.layout import Buckets

BUCKETS = Buckets(raw="raw", processed="processed", models="models", predictions="predictions", results="results",
                  qa="qa", knowledge_base="knowledge", athena_results="athena")


def parquet(rows: int, row_group_size: int = 1_000, first: int = 0) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.table({"customer_id": [f"CUST-{i:08d}" for i in range(first, first + rows)]}), buffer,
                   row_group_size=row_group_size)
    return buffer.getvalue()


def test_shards_cut_each_file_into_ranges_of_at_most_shard_rows():
    planned = shards.plan([("s3://b/a.parquet", 7), ("s3://b/b.parquet", 0), ("s3://b/c.parquet", 3)], shard_rows=3)
    assert [(s["shard"], s["uri"], s["first_row"], s["rows"]) for s in planned] == [
        ("00000", "s3://b/a.parquet", 0, 3), ("00001", "s3://b/a.parquet", 3, 3), ("00002", "s3://b/a.parquet", 6, 1),
        ("00003", "s3://b/c.parquet", 0, 3)]
    with pytest.raises(ValueError, match="shard_rows must be at least 1"):
        shards.plan([("s3://b/a.parquet", 7)], shard_rows=0)


@mock_aws
def test_plan_shards_reads_only_footers_and_writes_the_manifest(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    s3 = boto3.client("s3")
    for bucket in ("processed",):
        s3.create_bucket(Bucket=bucket)
    big = parquet(250_000, row_group_size=50_000)  # a footer past the first ranged read's guess
    s3.put_object(Bucket="processed", Key="runs/r1/inference/part-0.parquet", Body=big)
    s3.put_object(Bucket="processed", Key="runs/r1/inference/part-1.parquet", Body=parquet(2_500))
    s3.put_object(Bucket="processed", Key="runs/r1/inference/_SUCCESS", Body=b"")
    ranges = []
    real_get = s3.get_object
    monkeypatch.setattr(s3, "get_object", lambda **request: ranges.append(request.get("Range")) or real_get(**request))
    result = stages.plan_shards(s3, stages.Settings(buckets=BUCKETS, min_rows=1, shard_rows=100_000, run_lock_lease_seconds=60), run_id="r1")
    assert result == {"shards": 4, "rows": 252_500, "files": 2, "shard_rows": 100_000,
                      "manifest": "s3://processed/runs/r1/shards.json"}
    assert all(ranges) and len(ranges) <= 4  # ranged reads of footers only, never a whole object
    manifest = json.loads(real_get(Bucket="processed", Key="runs/r1/shards.json")["Body"].read())
    assert [(m["uri"].rsplit("/", 1)[-1], m["first_row"], m["rows"]) for m in manifest] == [
        ("part-0.parquet", 0, 100_000), ("part-0.parquet", 100_000, 100_000), ("part-0.parquet", 200_000, 50_000),
        ("part-1.parquet", 0, 2_500)]


def test_a_shard_reads_exactly_its_rows(tmp_path):
    from engagement_ml import storage

    (tmp_path / "data.parquet").write_bytes(parquet(2_600, row_group_size=700))
    for first, rows in ((0, 1_000), (650, 100), (1_000, 1_600), (2_599, 1)):
        frame = storage.read_parquet_rows(str(tmp_path / "data.parquet"), first_row=first, rows=rows)
        assert frame["customer_id"].to_list() == [f"CUST-{i:08d}" for i in range(first, first + rows)]


def test_training_reads_a_fixed_sample_of_exactly_its_size_across_files(tmp_path):
    from engagement_ml import storage

    for index, (first, rows) in enumerate(((0, 1_500), (1_500, 2_500))):
        (tmp_path / f"part-{index}.parquet").write_bytes(parquet(rows, row_group_size=400, first=first))
    sample, total = storage.read_parquet_sample(str(tmp_path), max_rows=1_000)
    again, _ = storage.read_parquet_sample(str(tmp_path), max_rows=1_000)
    assert total == 4_000 and sample.height == 1_000 and sample["customer_id"].n_unique() == 1_000
    assert sample.equals(again)  # a fixed seed
    from_second_file = sample.filter(sample["customer_id"] >= "CUST-00001500").height
    assert 500 < from_second_file < 750  # about 2,500 / 4,000 of the sample
    everything, _ = storage.read_parquet_sample(str(tmp_path), max_rows=0)
    assert everything.height == 4_000
