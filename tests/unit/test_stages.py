"""The Lambda stages against moto: two runs through claim, ingest, validation (with drift), the
models, cache, knowledge base, run tables and publish; the ways a stage stops a run; and the
publish protocol's guarantees (nothing a run does before PublishLatest changes what readers see)."""

import io
import json
from types import SimpleNamespace
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from datagen.generator import GeneratorConfig
from datagen.writer import write_dataset
from engagement.assistant import Tool
from engagement import ask_api, cache, knowledge_base, prediction_api, publish, shards, stages
from engagement.claim import RunIdInUse, RunLocked, SourceMissing
from engagement.ingest import ingest_csv
from engagement.layout import Buckets, Run, run_id_from_execution
from engagement.predictions_schema import PREDICTION_COLUMNS
from engagement.publish import PublishConflict
from engagement.s3uri import S3Uri
from engagement.stages import Settings, StageFailed
from engagement.tokenize import Tokenizer
from engagement_ml import storage
from engagement_ml.config import InferConfig, TrainConfig
from engagement_ml.infer import infer
from engagement_ml.train import train

BUCKETS = Buckets(raw="raw", processed="processed", models="models", predictions="predictions", results="results",
                  qa="qa-review", knowledge_base="knowledge", athena_results="athena-results")
SETTINGS = Settings(buckets=BUCKETS, min_rows=500, shard_rows=250_000, run_lock_lease_seconds=7_800)
TOKENS = Tokenizer(b"k" * 32)


@pytest.fixture(scope="module")
def csvs(tmp_path_factory):
    first, second = tmp_path_factory.mktemp("first"), tmp_path_factory.mktemp("second")
    write_dataset(GeneratorConfig(rows=3_000, seed=1), first, progress=None)
    write_dataset(GeneratorConfig(rows=3_000, seed=2, anomaly_share=0.2), second, progress=None)
    return (first / "customers.csv").read_bytes(), (second / "customers.csv").read_bytes()


@pytest.fixture(scope="module")
def models(csvs, tmp_path_factory) -> dict[bytes, tuple[bytes, bytes]]:
    """Training summary and predictions per input file, trained once (the Athena and ECS stages
    are other tests' business: here bronze feeds the models directly)."""
    trained = {}
    for index, csv in enumerate(csvs):
        folder = tmp_path_factory.mktemp(f"models{index}")
        with (folder / "customers.csv").open("wb") as source:
            source.write(csv)
        with (folder / "customers.csv").open("rb") as source, (folder / "bronze.parquet").open("wb") as bronze:
            ingest_csv(source, bronze=bronze, quarantine=io.BytesIO(), tokenizer=TOKENS, source_name="t")
        bronze = str(folder / "bronze.parquet")
        train(TrainConfig(training_data_uri=bronze, test_data_uri=bronze, model_registry_uri=str(folder / "models"),
                          model_version="v", output_uri=str(folder / "summary.json"), threads=2))
        inference = infer(InferConfig(inference_data_uri=bronze, model_registry_uri=str(folder / "models"),
                                      model_version="v", predictions_uri=str(folder / "predictions.parquet"),
                                      threads=2))
        trained[csv] = ((folder / "summary.json").read_bytes(), (folder / "predictions.parquet").read_bytes(),
                        json.dumps(inference).encode())
    return trained


@dataclass
class Aws:
    s3: object
    glue: object
    table: object
    ledger: object
    models: dict
    agent: "FakeAgent"


class FakeAgent:
    """bedrock-agent's StartIngestionJob (moto has knowledge bases but no ingestion jobs)."""

    def __init__(self):
        self.calls = []

    def start_ingestion_job(self, **request):
        self.calls.append(request)
        return {"ingestionJob": {"ingestionJobId": f"JOB{len(self.calls)}", "status": "STARTING"}}


INDEX = knowledge_base.Index("KB12345678", "DS12345678")


@pytest.fixture
def aws(monkeypatch, models):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        storage._s3.cache_clear()
        s3 = boto3.client("s3")
        for bucket in vars(BUCKETS).values():
            s3.create_bucket(Bucket=bucket)
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        glue = boto3.client("glue")
        for database in ("engagement_raw", "engagement_qa", "engagement_analytics", "engagement_predictions"):
            glue.create_database(DatabaseInput={"Name": database})
        dynamodb = boto3.resource("dynamodb")
        table = dynamodb.create_table(
            TableName="cache", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "customer_id", "KeyType": "HASH"}, {"AttributeName": "run_id", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "customer_id", "AttributeType": "S"},
                                  {"AttributeName": "run_id", "AttributeType": "S"}])
        ledger = dynamodb.create_table(
            TableName="ledger", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "record_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "record_id", "AttributeType": "S"}])
        yield Aws(s3, glue, table, ledger, models, FakeAgent())
        storage._s3.cache_clear()


STARTED = "2026-11-22T10:00:00.000Z"


def claim(aws: Aws, execution: str, source_key: str | None = None, started: str = STARTED) -> dict:
    return stages.claim_run(aws.s3, aws.glue, aws.ledger, SETTINGS, execution_name=execution,
                            execution=f"{execution}@{started}", source_key=source_key)


def release(aws: Aws, execution: str, started: str = STARTED) -> None:
    """What the state machine's ReleaseRunLock state does."""
    aws.ledger.delete_item(Key={"record_id": "lock"}, ConditionExpression="#e = :e",
                           ExpressionAttributeNames={"#e": "execution"},
                           ExpressionAttributeValues={":e": f"{execution}@{started}"})


def ingest(aws: Aws, run_id: str, source_key: str) -> dict:
    """PlanIngest, one Ingest per file (the Distributed Map's children), MergeIngest."""
    plan = stages.plan_ingest(aws.s3, SETTINGS, run_id=run_id, source_key=source_key)
    files = json.loads(aws.s3.get_object(Bucket="processed", Key=f"runs/{run_id}/ingest_files.json")["Body"].read())
    assert len(files) == plan["files"]
    results = [stages.ingest(aws.s3, TOKENS, SETTINGS, run_id=run_id, source_key=file["key"], part=file["shard"])
               for file in files]
    return stages.merge_shards(aws.s3, SETTINGS, stage="Ingest", run_id=run_id, results=results, rows_scored=0)


def validate(aws: Aws, run_id: str, settings: Settings = SETTINGS) -> dict:
    """One profile per bronze part (the Distributed Map's children), then MergeValidation."""
    files = json.loads(aws.s3.get_object(Bucket="processed", Key=f"runs/{run_id}/ingest_files.json")["Body"].read())
    results = [stages.profile_part(aws.s3, settings, run_id=run_id, part=file["shard"]) for file in files]
    return stages.merge_shards(aws.s3, settings, stage="DataValidation", run_id=run_id, results=results,
                               rows_scored=0)


def stage_run(aws: Aws, csv: bytes, execution: str) -> dict:
    """Every Lambda stage up to (not including) PublishLatest, with the file's models."""
    aws.s3.put_object(Bucket="raw", Key="customers/customers.csv", Body=csv)
    start = claim(aws, execution)
    run_id = start["run_id"]
    results = {"start": start, "ingest": ingest(aws, run_id, start["source_key"]),
               "validate": validate(aws, run_id)}
    run = Run(run_id, BUCKETS)
    # A variant of a generated file (a corrupted row, say) borrows the first file's models.
    summary, predictions, inference = aws.models.get(csv) or next(iter(aws.models.values()))
    # Inference as one shard (the Distributed Map's child writes these two; tests/unit/test_shards.py
    # and the e2e run cover several).
    for place, name, body in (("training_summary", "", summary), ("predictions", "shard-00000.parquet", predictions),
                              ("inference_shard_summaries", "shard-00000.json", inference)):
        location = run.location(place)
        aws.s3.put_object(Bucket=location.bucket, Key=location.key + name, Body=body)
    results["inference"] = stages.merge_inference(aws.s3, SETTINGS, run_id=run_id, results=[{"shard": "00000"}])
    loaded = stages.load_cache(aws.s3, cache.CacheTable(boto3.client("dynamodb"), "cache"), SETTINGS,
                               run_id=run_id, shard="00000")
    results["cache"] = stages.check_cache_load(results=[loaded], rows_scored=results["inference"]["rows_scored"])
    results["knowledge_base"] = stages.write_knowledge_base(aws.s3, aws.agent, SETTINGS, run_id=run_id, index=INDEX)
    return results


def publish_run(aws: Aws, results: dict, execution: str) -> dict:
    result = stages.publish_run(aws.s3, SETTINGS, run_id=results["start"]["run_id"], execution_name=execution,
                                summary={"rows": results["ingest"]["rows_accepted"]})
    release(aws, execution)
    return result


def run_pipeline(aws: Aws, csv: bytes, execution: str) -> dict:
    results = stage_run(aws, csv, execution)
    results["publish"] = publish_run(aws, results, execution)
    return results


def served(aws: Aws, customer_id: str = "CUST-00000001") -> dict | None:
    """What `/predict` answers."""
    return cache.published_prediction(aws.s3, aws.table, BUCKETS, customer_id)


def test_two_runs_publish_in_turn_and_the_second_measures_drift(aws, csvs):
    first = run_pipeline(aws, csvs[0], "2026-11-22T10:00:00Z manual")
    first_run = first["start"]["run_id"]
    assert first_run.startswith("r_2026_11_22t10_00_00z_manual_")
    assert first["ingest"]["rows_accepted"] == 3_000 and first["validate"]["baseline_run"] is None
    assert first["cache"]["items_written"] == 3_000
    assert first["publish"]["previous_run_id"] is None

    second = run_pipeline(aws, csvs[1], "weekly-2026-11-29")
    second_run = second["start"]["run_id"]
    assert second["validate"]["baseline_run"] == first_run
    report = json.loads(aws.s3.get_object(
        Bucket="processed", Key=f"runs/{second_run}/validation_report.json")["Body"].read())
    features = report["drift"]["features"]
    # 20% bots in the second file: their scripted behaviour moves exactly the features they fake.
    for bot_feature in ("num_messages_sent_per_day", "swipe_like_ratio", "response_time_avg_hours"):
        assert features[bot_feature]["status"] != "stable", bot_feature
    for untouched in ("gender", "account_type", "referral_count", "device_type"):
        assert features[untouched]["status"] == "stable", untouched
    assert second["publish"]["previous_run_id"] == first_run
    pointer = publish.read_pointer(aws.s3, BUCKETS)
    assert pointer["run_id"] == second_run and pointer["summary"] == {"rows": 3_000}
    assert pointer["knowledge_base"] == f"s3://knowledge/runs/{second_run}/"
    assert served(aws)["run_id"] == second_run


def test_a_staged_run_changes_nothing_readers_see_until_it_is_published(aws, csvs):
    first = run_pipeline(aws, csvs[0], "served-first")
    before = served(aws)
    pointer = aws.s3.get_object(Bucket="results", Key="published/latest.json")["Body"].read()
    second = stage_run(aws, csvs[1], "staged-second")  # everything but PublishLatest
    assert served(aws) == before and before["run_id"] == first["start"]["run_id"]
    assert aws.s3.get_object(Bucket="results", Key="published/latest.json")["Body"].read() == pointer
    second_item = aws.table.get_item(Key={"customer_id": "CUST-00000001", "run_id": second["start"]["run_id"]})
    assert "Item" in second_item, "the second run's cache is staged beside the first's"
    publish_run(aws, second, "staged-second")
    assert served(aws)["run_id"] == second["start"]["run_id"]


def test_cache_items_carry_predictions_reasons_and_a_ttl_with_slack(aws, csvs):
    result = run_pipeline(aws, csvs[0], "cache-check")
    run_id = result["start"]["run_id"]
    item = aws.table.get_item(Key={"customer_id": "CUST-00000001", "run_id": run_id})["Item"]
    assert set(item) == {"customer_id", "run_id", "expires_at", "prediction"}
    document = json.loads(item["prediction"])
    assert set(document) == {"outputs", "reasons", "model_version", "scored_at"}
    assert set(document["outputs"]) == set(cache.OUTPUT_FIELDS) and 0 <= document["outputs"]["churn_probability"] <= 1
    assert {model: len(reasons) for model, reasons in document["reasons"].items()} == {"engagement": 5, "churn": 5}
    assert len(item["prediction"]) < 1_000, "one write unit per item"
    # Two weekly runs may fail in a row and /predict still answers.
    assert 20.9 * 86_400 < int(item["expires_at"]) - time.time() < 21.1 * 86_400
    answer = served(aws)
    assert answer["run_id"] == run_id and answer["model_version"] == document["model_version"]
    feature, value, contribution = document["reasons"]["churn"][0]
    assert answer["reasons"]["churn"][0] == {"feature": feature, "value": value, "contribution": contribution}
    assert {name: answer[name] for name in cache.OUTPUT_FIELDS} == document["outputs"]
    predictions = pq.read_table(io.BytesIO(aws.models[csvs[0]][1])).to_pylist()
    row = next(row for row in predictions if row["customer_id"] == "CUST-00000001")
    assert answer["reasons"]["engagement"][4]["feature"] == row["reason_5_feature"]
    assert abs(answer["predicted_engagement_score"] - row["predicted_engagement_score"]) < 1e-6


def ask_predict(aws: Aws, body) -> tuple[int, dict]:
    answer = prediction_api.predict(aws.s3, aws.table, BUCKETS, body if isinstance(body, str | None) else json.dumps(body))
    return answer.status, answer.body


def test_predict_answers_from_the_published_run_and_refuses_bad_requests_with_the_reason(aws, csvs):
    status, body = ask_predict(aws, {"customer_id": "CUST-00000001"})
    assert (status, body["message"]) == (503, "no run has been published yet: run the pipeline first")
    run_id = run_pipeline(aws, csvs[0], "predict-api")["start"]["run_id"]
    status, body = ask_predict(aws, {"customer_id": "CUST-00000001"})
    assert status == 200 and body["run_id"] == run_id and len(body["reasons"]["engagement"]) == 5
    assert ask_predict(aws, {"customer_id": "CUST-99999999"}) == (
        404, {"message": "customer_id 'CUST-99999999' is not in the published run"})
    refusals = {
        None: "the body must be a JSON object",
        "{not json": "the body is not valid JSON",
        json.dumps(["CUST-00000001"]): "the body must be a JSON object",
        json.dumps({"customer_id": "CUST-00000001", "email": "x"}): 'one field, "customer_id"',
        json.dumps({"customer_id": 7}): "customer_id: expected 1-64 letters",
        json.dumps({"customer_id": "CUST 1; DROP"}): "customer_id: expected 1-64 letters",
        json.dumps({"customer_id": "x" * 65}): "customer_id: expected 1-64 letters",
        json.dumps({"customer_id": "x" * 2_000}): "the body is over 1,024 bytes",
    }
    for request, reason in refusals.items():
        status, body = ask_predict(aws, request)
        assert status == 400 and reason in body["message"], (request, body)


class LocalModel:
    def converse(self, **request):
        import planner
        return planner.converse(request)


def answer_table():
    return boto3.resource("dynamodb").create_table(
        TableName="answers", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "question_id", "KeyType": "HASH"},
                   {"AttributeName": "run_id", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "question_id", "AttributeType": "S"},
                              {"AttributeName": "run_id", "AttributeType": "S"}])


def test_ask_refuses_bad_questions_and_waits_for_a_published_run(aws, csvs):
    answers = answer_table()

    def asked(body):
        answer = ask_api.answer(lambda seconds: LocalModel(), [], aws.s3, BUCKETS, answers, model_id="local", body=body)
        return answer.status, answer.body

    question = json.dumps({"question": "How does engagement differ across age groups?"})
    assert asked(question) == (503, {"message": "no run has been published yet: run the pipeline first"})
    for body, reason in ((None, "must be a JSON object"), (json.dumps({"question": "  "}), "non-empty string"),
                         (json.dumps({"question": "x" * 501}), "over 500 characters"),
                         (json.dumps({"question": "q", "user": "me"}), 'one field, "question"'),
                         ('{"question": ' + "[" * 1_000 + "]" * 1_000 + "}", "nested too deeply"),
                         (json.dumps({"question": "x" * 20_000}), "the body is over 2,064 bytes")):
        status, answer = asked(body)
        assert status == 400 and reason in answer["message"], (body, answer)
    run_pipeline(aws, csvs[0], "ask-api")
    status, answer = asked(question)  # no tools given: the planner says what it could answer, with no number
    assert status == 200 and answer["answer"].startswith("I cannot answer that") and answer["tool_calls"] == []
    assert answers.scan()["Items"] == []  # an answer no tool computed is not worth keeping

    class NoAccess:
        def converse(self, **request):
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no access"}}, "Converse")

    denied = ask_api.answer(lambda seconds: NoAccess(), [], aws.s3, BUCKETS, answers, model_id="m", body=question)
    assert denied.status == 503 and "Model access" in denied.body["message"]


def test_a_repeated_question_is_answered_from_the_cache_of_the_published_run_only(aws, csvs):
    answers, calls = answer_table(), []

    def stats(request, seconds_left):
        calls.append(request)
        columns = ["feature", "customers", "missing", "mean", "standard_deviation", "minimum", "first_quartile",
                   "median", "third_quartile", "maximum"]
        return {"feature": "engagement_score", "columns": columns,
                "rows": [["engagement_score", "3000", "0", "0.44", "0.17", "0", "0.31", "0.43", "0.56", "0.98"]],
                "source": "SELECT … (contact: jo@example.com)"}

    tools = [Tool("get_feature_stats", "stats", {"type": "object"}, stats)]

    def asked(question):
        answer = ask_api.answer(lambda seconds: LocalModel(), tools, aws.s3, BUCKETS, answers, model_id="local",
                                body=json.dumps({"question": question}))
        return answer.body

    first_run = run_pipeline(aws, csvs[0], "answers-one")["start"]["run_id"]
    first = asked("What's the distribution of engagement scores?")
    assert first["cached"] is False and first["run_id"] == first_run and len(calls) == 1
    assert first["redactions"] == 3 and "jo@example.com" not in json.dumps(first)  # tool output, sources, answer
    again = asked("  What's\u00a0the distribution of  engagement scores?\u200b ")
    assert again == {**first, "cached": True} and len(calls) == 1
    # The model answers the text the answer is keyed by: a non-breaking space inside a column's name
    # neither changes the plan nor lets a wrong answer into another question's key.
    poisoned = asked("What's the distribution of session\u00a0duration?")
    assert calls[-1] == {"feature": "avg_session_duration_min"}
    assert poisoned["question"] == "What's the distribution of session duration?" and len(calls) == 2
    assert asked("What's the distribution of session duration?") == {**poisoned, "cached": True}
    other_case = asked("WHAT'S THE DISTRIBUTION OF ENGAGEMENT SCORES?")  # case is kept: ids are case-sensitive
    assert other_case["cached"] is False and other_case["question"] == "WHAT'S THE DISTRIBUTION OF ENGAGEMENT SCORES?"
    second_run = run_pipeline(aws, csvs[1], "answers-two")["start"]["run_id"]
    fresh = asked("What's the distribution of engagement scores?")
    assert fresh["cached"] is False and fresh["run_id"] == second_run != first_run and len(calls) == 4


def test_the_cache_is_loaded_a_batch_at_a_time_and_unprocessed_items_are_retried(aws, csvs, monkeypatch):
    """Memory stays flat whatever the run's size: no more than one batch of items is built at a
    time. Items DynamoDB returns unprocessed (throttling) are sent again."""
    _, predictions, _ = aws.models[csvs[0]]
    aws.s3.put_object(Bucket="predictions", Key="predictions/run_id=streamed/predictions.parquet", Body=predictions)
    monkeypatch.setattr(cache, "BATCH_ROWS", 250)
    monkeypatch.setattr(cache.time, "sleep", lambda seconds: None)
    built, requests, stored = [], [], set()
    cache_items = cache.cache_items

    def counted_items(batch, **kwargs):
        built.append(batch.num_rows)
        return cache_items(batch, **kwargs)

    class ThrottlingDynamoDB:
        def batch_write_item(self, RequestItems):
            [puts] = RequestItems.values()
            requests.append(len(puts))
            kept, unprocessed = puts[: len(puts) // 2 + 1], puts[len(puts) // 2 + 1:]
            stored.update(put["PutRequest"]["Item"]["customer_id"]["S"] for put in kept)
            return {"UnprocessedItems": {"cache": unprocessed} if unprocessed else {}}

    monkeypatch.setattr(cache, "cache_items", counted_items)
    written = cache.load_cache(aws.s3, cache.CacheTable(ThrottlingDynamoDB(), "cache"),
                               S3Uri.parse("s3://predictions/predictions/run_id=streamed/"),
                               run_id="streamed", workers=2)
    assert written == len(stored) == pq.read_metadata(io.BytesIO(predictions)).num_rows == 3_000
    assert max(built) <= 250 and max(requests) == cache.WRITE_REQUEST_ITEMS
    assert sum(requests) > 3_000, "the unprocessed half of each request was sent again"


def test_items_left_unprocessed_too_often_fail_the_load(aws, csvs, monkeypatch):
    _, predictions, _ = aws.models[csvs[0]]
    aws.s3.put_object(Bucket="predictions", Key="predictions/run_id=stuck/predictions.parquet", Body=predictions)
    monkeypatch.setattr(cache.time, "sleep", lambda seconds: None)

    class AlwaysThrottled:
        def batch_write_item(self, RequestItems):
            return {"UnprocessedItems": RequestItems}

    # named, so the state machine retries the shard on exactly this error (LoadCacheShard's Retry)
    with pytest.raises(cache.CacheWriteThrottled, match="still unprocessed after 8 attempts"):
        cache.load_cache(aws.s3, cache.CacheTable(AlwaysThrottled(), "cache"),
                         S3Uri.parse("s3://predictions/predictions/run_id=stuck/"), run_id="stuck")


def test_knowledge_base_documents_come_from_the_run_reports(aws, csvs):
    result = run_pipeline(aws, csvs[0], "kb-check")
    run_id = result["start"]["run_id"]
    assert result["knowledge_base"]["documents"] == ["data_dictionary.md", "engagement_drivers.md",
                                                     "feature_statistics.md", "model_performance.md",
                                                     "predictions_summary.md", "run_summary.md", "what_if.md"]
    statistics = aws.s3.get_object(Bucket="knowledge", Key=f"runs/{run_id}/feature_statistics.md")["Body"].read()
    assert "3,000 customers" in statistics.decode() and "- device_type: 0 missing; mobile" in statistics.decode()
    assert "email" not in statistics.decode() and "full_name" not in statistics.decode()
    predictions = aws.s3.get_object(Bucket="knowledge", Key=f"runs/{run_id}/predictions_summary.md")["Body"].read()
    assert "Customers scored: 3,000." in predictions.decode()
    sidecar = aws.s3.get_object(Bucket="knowledge", Key=f"runs/{run_id}/what_if.md.metadata.json")["Body"].read()
    assert json.loads(sidecar) == {"metadataAttributes": {"run_id": run_id}}
    [job] = [call for call in aws.agent.calls if call["description"] == f"run {run_id}"]
    assert job["knowledgeBaseId"] == INDEX.knowledge_base_id and job["dataSourceId"] == INDEX.data_source_id
    assert len(job["clientToken"]) == 64  # a retry of the run starts no second sync
    what_if = aws.s3.get_object(Bucket="knowledge", Key=f"runs/{run_id}/what_if.md")["Body"].read().decode()
    assert "10% of free users convert to premium" in what_if
    summary = aws.s3.get_object(Bucket="knowledge", Key=f"runs/{run_id}/run_summary.md")["Body"].read().decode()
    assert "Rows received: 3,000; accepted 3,000; quarantined 0" in summary
    performance = aws.s3.get_object(Bucket="knowledge", Key=f"runs/{run_id}/model_performance.md")["Body"].read()
    training = json.loads(aws.s3.get_object(Bucket="processed", Key=f"runs/{run_id}/training_summary.json")["Body"]
                          .read())
    assert f"R² {training['metrics']['engagement']['r2']}" in performance.decode()
    assert f"R² {training['metrics']['engagement']['training_r2']} on the rows" in performance.decode()


def test_drift_survives_the_expiry_of_the_published_runs_processed_data(aws, csvs):
    """The processed bucket expires after 90 days; the drift baseline lives with the results."""
    first = run_pipeline(aws, csvs[0], "long-ago")
    for version in aws.s3.list_object_versions(Bucket="processed")["Versions"]:  # as lifecycle expiry would
        aws.s3.delete_object(Bucket="processed", Key=version["Key"], VersionId=version["VersionId"])
    second = run_pipeline(aws, csvs[1], "ninety-days-later")
    assert second["validate"]["baseline_run"] == first["start"]["run_id"]
    assert second["validate"]["max_psi"] > 0


def test_a_missing_baseline_profile_means_no_drift_said_plainly(aws, csvs):
    first = run_pipeline(aws, csvs[0], "profile-lost")
    key = f"profiles/run_id={first['start']['run_id']}/feature_profile.json"
    aws.s3.delete_object(Bucket="results", Key=key)
    second = stage_run(aws, csvs[1], "without-baseline")
    report = json.loads(aws.s3.get_object(
        Bucket="processed", Key=f"runs/{second['start']['run_id']}/validation_report.json")["Body"].read())
    assert report["passed"] and report["drift"]["features"] == {}
    assert "drift not measured" in report["drift"]["note"] and key in report["drift"]["note"]


def test_publish_retried_after_its_write_answers_the_same(aws, csvs):
    first = run_pipeline(aws, csvs[0], "retry-base")
    second = stage_run(aws, csvs[1], "retried-publish")
    run_id = second["start"]["run_id"]
    answer = stages.publish_run(aws.s3, SETTINGS, run_id=run_id, execution_name="retried-publish", summary={})
    again = stages.publish_run(aws.s3, SETTINGS, run_id=run_id, execution_name="retried-publish", summary={})
    assert answer == again and again["previous_run_id"] == first["start"]["run_id"]


def test_publish_refuses_a_pointer_that_changed_under_it(aws, csvs, monkeypatch):
    run_pipeline(aws, csvs[0], "conflict-base")
    second = stage_run(aws, csvs[1], "conflicted")
    original = publish._read_with_etag

    def stale_read(s3, location):  # another publish lands between our read and our write
        document, etag = original(s3, location)
        s3.put_object(Bucket=location.bucket, Key=location.key, Body=b'{"run_id": "someone_else"}\n')
        return document, etag

    monkeypatch.setattr(publish, "_read_with_etag", stale_read)
    with pytest.raises(PublishConflict, match="nothing was replaced"):
        stages.publish_run(aws.s3, SETTINGS, run_id=second["start"]["run_id"], execution_name="conflicted",
                           summary={})


def test_claim_refuses_a_run_id_in_use_and_never_deletes(aws, csvs):
    published = run_pipeline(aws, csvs[0], "weekly-run-2025-01-06")
    keys_before = {v["Key"] for bucket in vars(BUCKETS).values()
                   for v in aws.s3.list_object_versions(Bucket=bucket).get("Versions", [])}
    later = "2026-03-01T03:00:00.000Z"  # the same name, reused once its execution closed
    with pytest.raises(RunIdInUse, match=f"was claimed by execution weekly-run-2025-01-06@{STARTED}"):
        claim(aws, "weekly-run-2025-01-06", started=later)
    release(aws, "weekly-run-2025-01-06", started=later)
    # Data of a run id that the ledger does not know (restored from a backup, say) is refused too.
    aws.ledger.delete_item(Key={"record_id": f"run#{published['start']['run_id']}"})
    with pytest.raises(RunIdInUse, match="already has data"):
        claim(aws, "weekly-run-2025-01-06", started=later)
    keys_after = {v["Key"] for bucket in vars(BUCKETS).values()
                  for v in aws.s3.list_object_versions(Bucket=bucket).get("Versions", [])}
    assert keys_after == keys_before
    assert publish.read_pointer(aws.s3, BUCKETS)["run_id"] == published["start"]["run_id"]


def test_the_run_lock_keeps_a_second_execution_out_until_released(aws, csvs):
    aws.s3.put_object(Bucket="raw", Key="customers/customers.csv", Body=csvs[0])
    first = claim(aws, "scheduled")
    assert claim(aws, "scheduled") == first, "a retried ClaimRun keeps its lock"
    with pytest.raises(RunLocked, match="execution scheduled@.* has held the run lock"):
        claim(aws, "manual")
    with pytest.raises(aws.ledger.meta.client.exceptions.ConditionalCheckFailedException):
        release(aws, "manual")  # the refused run's failure path cannot release the holder's lock
    release(aws, "scheduled")
    assert claim(aws, "manual")["run_id"] != first["run_id"]


def test_a_lock_left_by_a_stopped_execution_expires_after_its_lease(aws, csvs):
    aws.s3.put_object(Bucket="raw", Key="customers/customers.csv", Body=csvs[0])
    aws.ledger.put_item(Item={"record_id": "lock", "execution": "stopped", "run_id": "x",
                              "acquired_at": "2026-01-01T00:00:00+00:00", "lease_expires_at": int(time.time()) - 1})
    assert claim(aws, "after-the-lease")["run_id"]


def test_a_missing_source_file_stops_the_run_before_any_work(aws):
    with pytest.raises(SourceMissing, match="s3://raw/customers/none.csv not found"):
        claim(aws, "x", source_key="customers/none.csv")
    assert "Item" not in aws.ledger.get_item(Key={"record_id": "lock"})


def test_too_many_quarantined_rows_stop_the_run(aws, csvs):
    lines = csvs[0].split(b"\n")
    corrupt = b"\n".join([lines[0], *(line.replace(b",", b";", 3) if i % 5 == 0 else line
                                     for i, line in enumerate(lines[1:]))])
    aws.s3.put_object(Bucket="raw", Key="customers/customers.csv", Body=corrupt)
    with pytest.raises(StageFailed, match=r"20\.\d% of rows were quarantined \(limit 5%\)"):
        ingest(aws, "bad", "customers/customers.csv")
    # Nothing is lost: the quarantine file holds every rejected row.
    quarantined = aws.s3.get_object(Bucket="raw", Key="quarantine/run_id=bad/part-00000.jsonl")["Body"].read()
    assert len(quarantined.splitlines()) == 600


def test_validation_stops_a_run_with_too_few_rows(aws, csvs):
    aws.s3.put_object(Bucket="raw", Key="customers/customers.csv", Body=csvs[0])
    ingest(aws, "small", "customers/customers.csv")
    with pytest.raises(StageFailed, match="3000 rows, fewer than the 5000 needed"):
        validate(aws, "small", replace(SETTINGS, min_rows=5_000))


def test_an_upload_of_many_files_is_ingested_file_by_file_and_reconciles(aws, csvs):
    lines = csvs[1].split(b"\n")
    header, rows = lines[0], [line for line in lines[1:] if line]
    rows[7] = rows[7].replace(b",", b";", 3)  # one bad row, in the second file
    for index, chunk in enumerate((rows[:1_000], rows[1_000:2_200], rows[2_200:])):
        aws.s3.put_object(Bucket="raw", Key=f"customers/upload-1/part-{index}.csv", Body=b"\n".join([header, *chunk]))
    merged = ingest(aws, "many", "customers/upload-1/")
    assert merged["files"] == 3 and merged["rows_in"] == 3_000
    assert merged["rows_accepted"] + merged["rows_quarantined"] == merged["rows_in"] and merged["rows_quarantined"] == 1
    report = json.loads(aws.s3.get_object(Bucket="processed", Key="runs/many/ingest_report.json")["Body"].read())
    assert [part["rows_in"] for part in report["parts"]] == [1_000, 1_200, 800] and report["reconciled"]
    bronze = aws.s3.list_objects_v2(Bucket="processed", Prefix="bronze/customers/run_id=many/")["Contents"]
    assert [o["Key"].rsplit("/", 1)[-1] for o in bronze] == ["part-00000.parquet", "part-00001.parquet",
                                                             "part-00002.parquet"]
    assert validate(aws, "many")["rows"] == merged["rows_accepted"]


def test_an_upload_prefix_without_a_csv_is_refused_by_name(aws):
    aws.s3.put_object(Bucket="raw", Key="customers/upload-3/readme.txt", Body=b"not customers")
    with pytest.raises(StageFailed, match=r"no \.csv file under s3://raw/customers/upload-3/"):
        stages.plan_ingest(aws.s3, SETTINGS, run_id="empty", source_key="customers/upload-3/")


def test_a_header_mismatch_in_any_file_refuses_the_upload_before_anything_is_written(aws, csvs):
    lines = csvs[0].split(b"\n")
    aws.s3.put_object(Bucket="raw", Key="customers/upload-2/a.csv", Body=csvs[0])
    names = lines[0].split(b",")
    swapped = b",".join([names[1], names[0], *names[2:]])
    aws.s3.put_object(Bucket="raw", Key="customers/upload-2/b.csv", Body=b"\n".join([swapped, *lines[1:]]))
    renamed = lines[0].replace(b'"customer_id"', b'"customerId"')
    aws.s3.put_object(Bucket="raw", Key="customers/upload-2/c.csv", Body=b"\n".join([renamed, *lines[1:]]))
    with pytest.raises(StageFailed) as refused:
        stages.plan_ingest(aws.s3, SETTINGS, run_id="mismatch", source_key="customers/upload-2/")
    message = str(refused.value)
    assert message.startswith("the upload is refused before any row was read (3 files)")
    assert "s3://raw/customers/upload-2/c.csv: the header cannot satisfy the contract" in message
    assert "s3://raw/customers/upload-2/b.csv: its header differs from s3://raw/customers/upload-2/a.csv's" in message
    for bucket in ("processed", "raw"):
        written = [o["Key"] for o in aws.s3.list_objects_v2(Bucket=bucket).get("Contents", [])
                   if not o["Key"].startswith("customers/")]
        assert written == [], written


def test_run_ids_are_safe_names_and_never_collide():
    assert run_id_from_execution("Weekly-Run 2026/11/22").startswith("weekly_run_2026_11_22_")
    assert run_id_from_execution("5f2c-uuid").startswith("r_5f2c_uuid_")
    # Names that read the same once cleaned, or share their first 48 characters, stay apart.
    assert run_id_from_execution("Weekly-Run-2025-01-06") != run_id_from_execution("weekly_run_2025_01_06")
    long = "nightly-backfill-for-the-customer-engagement-platform-"
    assert run_id_from_execution(long + "a") != run_id_from_execution(long + "b")
    assert run_id_from_execution("Weekly-Run-2025-01-06") == run_id_from_execution("Weekly-Run-2025-01-06")
    assert all(len(run_id_from_execution(name)) <= 51 for name in (long * 2, "x"))
    with pytest.raises(ValueError, match="no letters or digits"):
        run_id_from_execution("---")


def test_a_header_that_cannot_satisfy_the_contract_refuses_the_file_and_writes_only_the_report(aws, csvs):
    lines = csvs[0].split(b"\n")
    lines[0] = lines[0].replace(b'"customer_id"', b'"customerId"')
    aws.s3.put_object(Bucket="raw", Key="customers/other.csv", Body=b"\n".join(lines))
    with pytest.raises(StageFailed, match=r"customerId \(did you mean customer_id\?\).*nothing of it was ingested"):
        stages.ingest(aws.s3, TOKENS, SETTINGS, run_id="refused", source_key="customers/other.csv", part="00000")
    report = json.loads(aws.s3.get_object(Bucket="processed", Key="runs/refused/ingest_parts/part-00000.json")["Body"].read())
    assert report["header"]["missing_columns"] == ["customer_id"] and report["rows_in"] == 0
    assert "KeyCount" in aws.s3.list_objects_v2(Bucket="raw", Prefix="customers/other.csv")
    for bucket, prefix in (("raw", "quarantine/"), ("processed", "bronze/")):
        assert aws.s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["KeyCount"] == 0, bucket


def test_a_customer_is_erased_from_every_place_every_run_and_every_old_version(aws, csvs, tmp_path):
    """Every place of erasure.ERASED: objects in every version (also an old version whose object no
    longer holds the customer), both caches, knowledge-base documents, a local copy."""
    from engagement.erasure import ERASED, S3_PLACES, Stores, erase_customer
    from engagement.knowledge_base import Index

    first = run_pipeline(aws, csvs[0], "before-erasure")
    lines = csvs[0].split(b"\n")
    victim = lines[5].split(b",")[0].strip(b'"').decode()
    quarantined = b"\n".join([*lines[:5], lines[5].replace(b",", b";", 2), *lines[6:]])  # their row, malformed
    second = stage_run(aws, quarantined, "with-quarantine")
    publish_run(aws, second, "with-quarantine")
    aws.s3.put_object(Bucket="raw", Key="customers/customers.csv", Body=b"\n".join([*lines[:5], *lines[6:]]))
    documents = f"runs/{second['start']['run_id']}/notes.md"
    aws.s3.put_object(Bucket=BUCKETS.knowledge_base, Key=documents, Body=f"- kept\n- about {victim}\n".encode())
    answers = answer_table()
    for run, reply in ((first, "aggregate"), (second, "aggregate"), ({"start": {"run_id": "other"}}, victim),
                       ({"start": {"run_id": "other"}}, "unrelated")):
        answers.put_item(Item={"question_id": reply + run["start"]["run_id"], "run_id": run["start"]["run_id"],
                               "reply": json.dumps({"answer": reply})})
    copy = tmp_path / "customers.csv"
    copy.write_bytes(csvs[0])
    synced = []

    class Agent:
        exceptions = SimpleNamespace(ConflictException=KeyError)

        def start_ingestion_job(self, **request):
            synced.append(request)
            return {"ingestionJob": {"ingestionJobId": "job"}}

    stores = Stores(aws.s3, BUCKETS, aws.table, answers, aws.ledger, Agent(), Index("KB", "DS"))
    dry = erase_customer(stores, victim, dry_run=True, local_copies=(copy,))
    assert dry["rows_removed"] >= 4 and dry["old_versions_deleted"] == 0 and dry["answers_deleted"] == 3
    assert copy.read_bytes() == csvs[0] and synced == []
    done = erase_customer(stores, victim, local_copies=(copy,))
    assert done["rows_removed"] == dry["rows_removed"] and done["cache_items_deleted"] == 2
    assert "s3://raw/quarantine/run_id=" + second["start"]["run_id"] + "/part-00000.jsonl" in done["objects"]
    assert "s3://raw/customers/customers.csv" not in done["objects"]  # its current version no longer holds them...
    assert done["old_versions_deleted"] >= 3  # ...but its earlier versions did, and are gone
    assert done["runs"] == sorted({first["start"]["run_id"], second["start"]["run_id"]})
    assert [item["reply"] for item in answers.scan()["Items"]] == [json.dumps({"answer": "unrelated"})]
    assert done["knowledge_base_synced"] and synced[0]["knowledgeBaseId"] == "KB"
    assert victim.encode() not in copy.read_bytes() and done["local_copies"] == {str(copy): 1}
    for bucket in vars(BUCKETS).values():  # no object, in any version, still names the customer
        for version in aws.s3.list_object_versions(Bucket=bucket).get("Versions", []):
            body = aws.s3.get_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])["Body"].read()
            if version["Key"].endswith(".parquet"):
                assert victim not in pq.read_table(io.BytesIO(body))["customer_id"].to_pylist(), version["Key"]
            else:
                assert victim.encode() not in body, version["Key"]
    assert served(aws, victim) is None and served(aws)["run_id"] == second["start"]["run_id"]
    assert "Item" not in aws.ledger.get_item(Key={"record_id": "lock"}), "the erasure released the run lock"
    assert {f"s3:{place}" for place in S3_PLACES} | {"prediction_cache", "answer_cache", "knowledge_base_index",
                                                     "local_copies"} == set(ERASED)


def test_cache_documents_are_valid_json_whatever_the_values():
    """Documents are built a column at a time from text; odd values must still read back exactly."""
    names = [name for name, _, _ in PREDICTION_COLUMNS]
    row = {name: None for name in names}
    row.update(customer_id="CUST-1", predicted_engagement_score=float("nan"), churn_probability=1 / 3,
               ltv_p50_usd=float("inf"), ltv_p90_usd=1e-9, segment_name='Quote " and \\ back\\slash', segment_id=12,
               anomaly_flag=False, reason_1_feature="é", model_version="v1",
               scored_at=datetime(2026, 11, 23, 10, 0, 5, 123456, tzinfo=UTC))
    schema = pa.schema([(name, {"string": pa.string(), "double": pa.float64(), "boolean": pa.bool_(),
                                "bigint": pa.int64(), "timestamp": pa.timestamp("us", tz="UTC")}[kind])
                        for name, kind, _ in PREDICTION_COLUMNS])
    [item] = cache.cache_items(pa.Table.from_pylist([row], schema=schema), run_id="r", expires=1)
    document = json.loads(item["prediction"]["S"])
    outputs = document["outputs"]
    assert outputs["predicted_engagement_score"] is None and outputs["ltv_p50_usd"] is None
    assert outputs["churn_probability"] == 0.333333 and outputs["ltv_p90_usd"] == 0.0
    assert outputs["segment_name"] == 'Quote " and \\ back\\slash' and outputs["anomaly_flag"] is False
    assert outputs["segment_id"] == 12 and outputs["churn_flag"] is None
    assert document["reasons"]["engagement"][0] == ["é", None, None]
    assert (document["model_version"], document["scored_at"]) == ("v1", "2026-11-23T10:00:05")


def test_an_item_staged_in_the_earlier_shape_is_still_served(aws, csvs):
    """Items a run cached before they carried every output keep answering until the next run."""
    run_id = run_pipeline(aws, csvs[0], "earlier-shape")["start"]["run_id"]
    flat = {"predicted_engagement_score": 0.5, "churn_probability": 0.25, "segment_name": "Casual",
            "reason_1_feature": "avg_daily_logins", "reason_2_feature": "trust_score",
            "churn_reason_1_feature": "days_since_last_login", "model_version": "v0"}
    aws.table.put_item(Item={"customer_id": "CUST-00000001", "run_id": run_id, "prediction": json.dumps(flat)})
    answer = served(aws)
    assert (answer["churn_probability"], answer["segment_name"], answer["model_version"]) == (0.25, "Casual", "v0")
    assert answer["reasons"]["engagement"] == [{"feature": "avg_daily_logins", "value": None, "contribution": None},
                                               {"feature": "trust_score", "value": None, "contribution": None}]
    assert answer["reasons"]["churn"][0]["feature"] == "days_since_last_login"


def test_a_failed_shard_fails_the_merge_naming_it_and_the_cache_check_counts_every_item():
    results = [{"shard": "00000", "items_written": 5, "seconds": 1.0},
               {"shard": "00001", "failed": {"Error": "Sandbox.Timedout", "Cause": "Task timed out after 900 s"}}]
    with pytest.raises(shards.ShardsFailed, match=r"CacheLoad: 1 of 2 shards failed; nothing was published\. "
                                                   r"shard 00001: Sandbox\.Timedout: Task timed out"):
        stages.check_cache_load(results=results, rows_scored=10)
    with pytest.raises(stages.StageFailed, match="wrote 5 items for 10 customers scored"):
        stages.check_cache_load(results=results[:1], rows_scored=10)
    assert stages.check_cache_load(results=results[:1], rows_scored=5)["items_written"] == 5
