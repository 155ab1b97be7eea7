"""The Lambda stages against moto: two runs through ingest, validation (with drift), the models,
cache, knowledge base and publish; and the ways a stage stops a run."""

import json
import time
from dataclasses import dataclass

import boto3
import pytest
from moto import mock_aws

from datagen.generator import GeneratorConfig
from datagen.writer import write_dataset
from engagement import cache, stages
from engagement.runs import Buckets, RunLocations, run_id_from_execution
from engagement.stages import Settings, StageFailed
from engagement.tokenize import Tokenizer
from engagement_ml import storage
from engagement_ml.config import InferConfig, TrainConfig
from engagement_ml.infer import infer
from engagement_ml.train import train

BUCKETS = Buckets(raw="raw", processed="processed", models="models", predictions="predictions", results="results",
                  qa="qa-review", knowledge_base="knowledge")
SETTINGS = Settings(buckets=BUCKETS, min_rows=500)
TOKENS = Tokenizer(b"k" * 32)


@pytest.fixture(scope="module")
def csvs(tmp_path_factory):
    first, second = tmp_path_factory.mktemp("first"), tmp_path_factory.mktemp("second")
    write_dataset(GeneratorConfig(rows=3_000, seed=1), first, progress=None)
    write_dataset(GeneratorConfig(rows=3_000, seed=2, anomaly_share=0.2), second, progress=None)
    return (first / "customers.csv").read_bytes(), (second / "customers.csv").read_bytes()


@dataclass
class Aws:
    s3: object
    glue: object
    table: object


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        storage._s3.cache_clear()
        s3 = boto3.client("s3")
        for bucket in vars(BUCKETS).values():
            s3.create_bucket(Bucket=bucket)
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        glue = boto3.client("glue")
        for database in ("engagement_raw", "engagement_qa", "engagement_analytics"):
            glue.create_database(DatabaseInput={"Name": database})
        dynamodb = boto3.resource("dynamodb")
        table = dynamodb.create_table(TableName="cache", KeySchema=[{"AttributeName": "customer_id", "KeyType": "HASH"}],
                                      AttributeDefinitions=[{"AttributeName": "customer_id", "AttributeType": "S"}],
                                      BillingMode="PAY_PER_REQUEST")
        yield Aws(s3, glue, table)
        storage._s3.cache_clear()


def run_pipeline(aws: Aws, csv: bytes, execution: str) -> dict:
    aws.s3.put_object(Bucket="raw", Key="customers/customers.csv", Body=csv)
    start = stages.pre_cleanup(aws.s3, aws.glue, SETTINGS, execution_name=execution, source_key=None)
    run_id = start["run_id"]
    results = {"start": start,
               "ingest": stages.ingest(aws.s3, TOKENS, SETTINGS, run_id=run_id, source_key=start["source_key"]),
               "validate": stages.validate(aws.s3, SETTINGS, run_id=run_id)}
    run = RunLocations(run_id, BUCKETS)
    # The Athena splits and the Fargate tasks are other tests' business: here bronze feeds them directly.
    train(TrainConfig(training_data_uri=run.bronze, test_data_uri=run.bronze, model_registry_uri="s3://models/models",
                      model_version=run_id, output_uri=run.report("training_summary"), threads=2))
    infer(InferConfig(inference_data_uri=run.bronze, model_registry_uri="s3://models/models", model_version=run_id,
                      predictions_uri=run.predictions, threads=2))
    results["cache"] = stages.load_cache(aws.s3, lambda: boto3.resource("dynamodb").Table("cache"), SETTINGS,
                                         run_id=run_id)
    results["knowledge_base"] = stages.write_knowledge_base(aws.s3, SETTINGS, run_id=run_id)
    results["publish"] = stages.publish_run(aws.s3, SETTINGS, run_id=run_id, execution_name=execution,
                                            summary={"rows": results["ingest"]["rows_accepted"]})
    return results


def test_two_runs_publish_in_turn_and_the_second_measures_drift(aws, csvs):
    first = run_pipeline(aws, csvs[0], "2026-11-22T10:00:00Z manual")
    assert first["start"]["run_id"] == "r_2026_11_22t10_00_00z_manual"
    assert first["ingest"]["rows_accepted"] == 3_000 and first["validate"]["baseline_run"] is None
    assert first["cache"]["items_written"] == 3_000
    assert first["publish"]["previous_run_id"] is None

    second = run_pipeline(aws, csvs[1], "weekly-2026-11-29")
    assert second["validate"]["baseline_run"] == first["start"]["run_id"]
    # 20% bots in the second file: their scripted behaviour shifts several features.
    report = json.loads(aws.s3.get_object(
        Bucket="processed", Key=f"runs/{second['start']['run_id']}/validation_report.json")["Body"].read())
    features = report["drift"]["features"]
    # 20% bots in the second file: their scripted behaviour moves exactly the features they fake.
    for bot_feature in ("num_messages_sent_per_day", "swipe_like_ratio", "response_time_avg_hours"):
        assert features[bot_feature]["status"] != "stable", bot_feature
    for untouched in ("gender", "account_type", "referral_count", "device_type"):
        assert features[untouched]["status"] == "stable", untouched
    assert second["publish"]["previous_run_id"] == first["start"]["run_id"]
    latest = json.loads(aws.s3.get_object(Bucket="results", Key="latest.json")["Body"].read())
    assert latest["run_id"] == "weekly_2026_11_29" and latest["summary"] == {"rows": 3_000}


def test_cache_items_carry_predictions_reasons_and_a_ttl(aws, csvs):
    run_pipeline(aws, csvs[0], "cache-check")
    item = aws.table.get_item(Key={"customer_id": "CUST-00000001"})["Item"]
    assert set(item) == {"customer_id", "run_id", "expires_at", "prediction"} and item["run_id"] == "cache_check"
    prediction = json.loads(item["prediction"])
    assert set(prediction) == set(cache.PREDICTION_FIELDS)
    assert 0 <= prediction["churn_probability"] <= 1 and prediction["reason_1_feature"]
    assert 6.9 * 86_400 < int(item["expires_at"]) - time.time() < 7.1 * 86_400


def test_knowledge_base_documents_come_from_the_run_reports(aws, csvs):
    result = run_pipeline(aws, csvs[0], "kb-check")
    assert result["knowledge_base"]["documents"] == ["data_dictionary.md", "engagement_drivers.md",
                                                     "model_performance.md", "run_summary.md"]
    summary = aws.s3.get_object(Bucket="knowledge", Key="latest/run_summary.md")["Body"].read().decode()
    assert "Rows received: 3,000; accepted 3,000; quarantined 0" in summary
    performance = aws.s3.get_object(Bucket="knowledge", Key="latest/model_performance.md")["Body"].read().decode()
    training = json.loads(aws.s3.get_object(Bucket="processed", Key="runs/kb_check/training_summary.json")["Body"]
                          .read())
    assert f"R² {training['metrics']['engagement']['r2']}" in performance


def test_pre_cleanup_removes_leftovers_of_the_same_run(aws, csvs):
    aws.s3.put_object(Bucket="raw", Key="customers/customers.csv", Body=csvs[0])
    aws.s3.put_object(Bucket="processed", Key="runs/again/training/stale.parquet", Body=b"old")
    aws.glue.create_table(DatabaseName="engagement_raw", TableInput={"Name": "training_again"})
    result = stages.pre_cleanup(aws.s3, aws.glue, SETTINGS, execution_name="again", source_key=None)
    assert result["cleaned"]["dropped_tables"] == ["engagement_raw.training_again"]
    assert "Contents" not in aws.s3.list_objects_v2(Bucket="processed", Prefix="runs/again/")
    assert stages.pre_cleanup(aws.s3, aws.glue, SETTINGS, execution_name="again", source_key=None)["cleaned"] == {
        "run_id": "again", "deleted_objects": 0, "dropped_tables": []}


def test_a_missing_source_file_stops_the_run_before_any_work(aws):
    with pytest.raises(aws.s3.exceptions.ClientError, match="404"):
        stages.pre_cleanup(aws.s3, aws.glue, SETTINGS, execution_name="x", source_key="customers/none.csv")


def test_too_many_quarantined_rows_stop_the_run(aws, csvs):
    lines = csvs[0].split(b"\n")
    corrupt = b"\n".join([lines[0], *(line.replace(b",", b";", 3) if i % 5 == 0 else line
                                     for i, line in enumerate(lines[1:]))])
    aws.s3.put_object(Bucket="raw", Key="customers/customers.csv", Body=corrupt)
    with pytest.raises(StageFailed, match=r"20\.\d% of rows were quarantined \(limit 5%\)"):
        stages.ingest(aws.s3, TOKENS, SETTINGS, run_id="bad", source_key="customers/customers.csv")
    # Nothing is lost: the quarantine file holds every rejected row.
    quarantined = aws.s3.get_object(Bucket="raw", Key="quarantine/run_id=bad/customers.jsonl")["Body"].read()
    assert len(quarantined.splitlines()) == 600


def test_validation_stops_a_run_with_too_few_rows(aws, csvs):
    aws.s3.put_object(Bucket="raw", Key="customers/customers.csv", Body=csvs[0])
    stages.ingest(aws.s3, TOKENS, SETTINGS, run_id="small", source_key="customers/customers.csv")
    with pytest.raises(StageFailed, match="3000 rows, fewer than the 5000 needed"):
        stages.validate(aws.s3, Settings(buckets=BUCKETS, min_rows=5_000), run_id="small")


def test_run_ids_are_safe_table_and_key_names():
    assert run_id_from_execution("Weekly-Run 2026/11/22") == "weekly_run_2026_11_22"
    assert run_id_from_execution("5f2c-uuid") == "r_5f2c_uuid"
    with pytest.raises(ValueError, match="no letters or digits"):
        run_id_from_execution("---")
