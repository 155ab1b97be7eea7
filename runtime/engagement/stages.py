"""The pipeline's Lambda stages as plain functions of (AWS clients, settings, request).

Handlers parse the event, build clients once, and call one of these; tests call them directly
against moto. Return values are small JSON documents (counts and S3 URIs), never data.
"""

import io
import json
from dataclasses import dataclass

import pyarrow.parquet as pq

from engagement import cache, cleanup, knowledge_base, publish, validation
from engagement.ingest_job import IngestLocations, ingest_s3
from engagement.runs import Buckets, RunLocations, run_id_from_execution
from engagement.s3uri import S3Uri
from engagement.tokenize import Tokenizer


class StageFailed(Exception):
    """A stage refuses to let the run continue (the state machine's Catch reports it)."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    buckets: Buckets
    default_source_key: str = "customers/customers.csv"
    max_quarantine_share: float = 0.05
    min_rows: int = 1_000
    cache_ttl_attribute: str = "expires_at"


def pre_cleanup(s3, glue, settings: Settings, *, execution_name: str, source_key: str | None) -> dict:
    run_id = run_id_from_execution(execution_name)
    source_key = source_key or settings.default_source_key
    s3.head_object(Bucket=settings.buckets.raw, Key=source_key)  # fail fast, before any work, if it is missing
    cleaned = cleanup.clean_run(s3, glue, RunLocations(run_id, settings.buckets))
    return {"run_id": run_id, "source_key": source_key, "cleaned": cleaned}


def ingest(s3, tokenizer: Tokenizer, settings: Settings, *, run_id: str, source_key: str) -> dict:
    run = RunLocations(run_id, settings.buckets)
    summary = ingest_s3(s3, IngestLocations(
        source=S3Uri(settings.buckets.raw, source_key), bronze=S3Uri.parse(run.bronze),
        quarantine=S3Uri.parse(run.quarantine), report=S3Uri.parse(run.report("ingest_report"))), tokenizer)
    share = summary["rows_quarantined"] / summary["rows_in"]
    result = {key: summary[key] for key in ("rows_in", "rows_accepted", "rows_quarantined", "quarantined_by_reason")}
    if share > settings.max_quarantine_share:
        raise StageFailed(f"{share:.1%} of rows were quarantined (limit {settings.max_quarantine_share:.0%}): "
                          f"{summary['quarantined_by_reason']}; see {run.quarantine}")
    return {**result, "report": run.report("ingest_report"), "bronze": run.bronze}


def validate(s3, settings: Settings, *, run_id: str) -> dict:
    run = RunLocations(run_id, settings.buckets)
    current = _read_parquet(s3, run.bronze)
    latest = publish.read_latest(s3, settings.buckets.results)
    baseline = _read_parquet(s3, latest["bronze"]) if latest else None
    report = validation.validate(current, baseline, baseline_run=latest["run_id"] if latest else None,
                                 min_rows=settings.min_rows)
    _write_json(s3, run.report("validation_report"), report)
    if not report["passed"]:
        raise StageFailed("data validation failed: " + "; ".join(report["quality"]["problems"]))
    drift = report["drift"]
    return {"rows": report["quality"]["rows"], "report": run.report("validation_report"),
            "baseline_run": drift["baseline_run"], "max_psi": drift.get("max_psi"),
            "shifted_features": drift.get("shifted", [])}


def load_cache(s3, table_factory, settings: Settings, *, run_id: str) -> dict:
    run = RunLocations(run_id, settings.buckets)
    predictions = _read_parquet(s3, run.predictions)
    written = cache.load_cache(table_factory, cache.cache_items(predictions, run_id=run_id,
                                                        ttl_attribute=settings.cache_ttl_attribute))
    return {"items_written": written, "ttl_days": cache.CACHE_DAYS}


def write_knowledge_base(s3, settings: Settings, *, run_id: str) -> dict:
    run = RunLocations(run_id, settings.buckets)
    docs = knowledge_base.documents(run_id, _read_json(s3, run.report("training_summary")),
                                    _read_json(s3, run.report("ingest_report")),
                                    _read_json(s3, run.report("validation_report")))
    target = S3Uri.parse(run.knowledge_base)
    for name, text in docs.items():
        s3.put_object(Bucket=target.bucket, Key=target.key + name, Body=text.encode(), ContentType="text/markdown")
    return {"documents": sorted(docs), "location": run.knowledge_base}


def publish_run(s3, settings: Settings, *, run_id: str, execution_name: str, summary: dict) -> dict:
    return publish.publish(s3, RunLocations(run_id, settings.buckets), execution=execution_name, summary=summary)


def _read_parquet(s3, uri: str):
    location = S3Uri.parse(uri)
    body = s3.get_object(Bucket=location.bucket, Key=location.key)["Body"].read()
    return pq.read_table(io.BytesIO(body))


def _read_json(s3, uri: str) -> dict:
    location = S3Uri.parse(uri)
    return json.loads(s3.get_object(Bucket=location.bucket, Key=location.key)["Body"].read())


def _write_json(s3, uri: str, document: dict) -> None:
    location = S3Uri.parse(uri)
    s3.put_object(Bucket=location.bucket, Key=location.key, Body=json.dumps(document, indent=2, default=str).encode(),
                  ContentType="application/json")
