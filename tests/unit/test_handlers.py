"""Handlers are thin: they parse the event, call one stage function and return its small dict."""

from dataclasses import dataclass

import boto3
import pytest
from moto import mock_aws

from handlers import events

ENV = {"RAW_BUCKET": "raw", "PROCESSED_BUCKET": "processed", "MODELS_BUCKET": "models",
       "PREDICTIONS_BUCKET": "predictions", "RESULTS_BUCKET": "results", "QA_BUCKET": "qa-review",
       "KNOWLEDGE_BASE_BUCKET": "knowledge", "ATHENA_RESULTS_BUCKET": "athena-results",
       "RUN_LEDGER_TABLE": "ledger", "CACHE_TABLE": "cache", "TOKENIZATION_SECRET_ARN": "arn:secret",
       "MIN_ROWS": "1000", "SHARD_ROWS": "250000", "RUN_LOCK_LEASE_SECONDS": "7800", "POWERTOOLS_TRACE_DISABLED": "true",
       "POWERTOOLS_METRICS_NAMESPACE": "EngagementPlatformTest", "POWERTOOLS_SERVICE_NAME": "pipeline",
       "AWS_DEFAULT_REGION": "us-east-1"}


@dataclass
class Context:
    function_name: str = "claim-run"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:claim-run"
    aws_request_id: str = "req-1"


@pytest.mark.parametrize(
    ("model", "event", "message"),
    [
        (events.StartEvent, {}, "StartEvent: missing field 'execution_name'"),
        (events.StartEvent, {"execution_name": 5}, "StartEvent.execution_name: expected str, got int"),
        (events.IngestEvent, {"run_id": "r"}, "IngestEvent: missing field 'source_key'"),
        (events.PublishEvent, {"run_id": "r", "execution_name": "e", "summary": "x"},
         "PublishEvent.summary: expected dict, got str"),
        (events.RunEvent, ["r"], "RunEvent: expected a JSON object, got list"),
    ],
)
def test_bad_events_are_rejected_with_the_field_named(model, event, message):
    with pytest.raises(events.BadEvent, match=message.replace("(", r"\(").replace(")", r"\)")):
        events.parse(model, event)


def test_optional_fields_default():
    start = events.parse(events.StartEvent, {"execution_name": "x", "execution": "x@t"})
    assert start == events.StartEvent("x", "x@t", {}) and start.source_key is None
    assert events.parse(events.StartEvent, {"execution_name": "x", "execution": "x@t",
                                            "input": {"source_key": "k"}}).source_key == "k"


def test_claim_run_handler_end_to_end_on_moto(monkeypatch):
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        from handlers import shared

        shared.client.cache_clear()
        s3 = boto3.client("s3")
        for bucket in ("raw", "processed", "models", "predictions", "results", "qa-review", "knowledge",
                       "athena-results"):
            s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket="raw", Key="customers/customers.csv", Body=b"customer_id\n")
        boto3.client("glue").create_database(DatabaseInput={"Name": "engagement_raw"})
        boto3.resource("dynamodb").create_table(
            TableName="ledger", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "record_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "record_id", "AttributeType": "S"}])
        from handlers.claim_run import handler

        result = handler({"execution_name": "Manual-1", "execution": "Manual-1@2026-11-22T10:00:00Z"}, Context())
        lock = boto3.resource("dynamodb").Table("ledger").get_item(Key={"record_id": "lock"})["Item"]
        shared.client.cache_clear()
    assert result["run_id"].startswith("manual_1_") and result["source_key"] == "customers/customers.csv"
    assert lock["execution"] == "Manual-1@2026-11-22T10:00:00Z" and lock["run_id"] == result["run_id"]


def test_every_handler_is_a_few_lines():
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "runtime" / "handlers"
    for module in folder.glob("*.py"):
        if module.name in ("__init__.py", "shared.py", "events.py"):
            continue
        body = module.read_text().split("def handler", 1)[1]
        assert len([line for line in body.splitlines() if line.strip()]) <= 8, module.name


def test_the_assistants_model_client_makes_one_attempt_within_the_seconds_left(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    from handlers.shared import model_client

    config = model_client(7.5).meta.config
    assert (config.read_timeout, config.connect_timeout) == (7.5, 2.0)
    assert config.retries["total_max_attempts"] == 1


def test_a_stage_function_reads_its_settings_at_cold_start_naming_a_missing_or_malformed_one():
    from engagement import environment
    from handlers.shared import stage_environment

    parsed = stage_environment(ENV)
    assert (parsed.settings.min_rows, parsed.settings.shard_rows, parsed.ledger_table) == (1_000, 250_000, "ledger")
    with pytest.raises(environment.SettingError, match="environment variable RUN_LEDGER_TABLE is not set"):
        stage_environment({k: v for k, v in ENV.items() if k != "RUN_LEDGER_TABLE"})
    with pytest.raises(environment.SettingError, match="SHARD_ROWS is '25e4', not a whole number of at least 1"):
        stage_environment({**ENV, "SHARD_ROWS": "25e4"})
    with pytest.raises(environment.SettingError, match="MIN_ROWS is '0', not a whole number"):
        stage_environment({**ENV, "MIN_ROWS": "0"})
    assert environment.bucket_variables({"raw": "bucket-a"}) == {"RAW_BUCKET": "bucket-a"}


def test_ask_reads_every_variable_its_stack_sets(monkeypatch):
    from engagement.environment import SettingError
    from handlers.shared import ask_environment

    ask = {**ENV, "MODEL_ID": "m", "ATHENA_WORKGROUP": "wg", "KNOWLEDGE_BASE_ID": "kb", "ANSWER_CACHE_TABLE": "answers"}
    assert ask_environment(ask).answer_cache_table == "answers"
    with pytest.raises(SettingError, match="environment variable MODEL_ID is not set"):
        ask_environment({k: v for k, v in ask.items() if k != "MODEL_ID"})
