"""The pipeline's Lambda stages as plain functions of (AWS clients, settings, request).

Handlers parse the event, build clients once, and call one of these; tests call them directly
against moto. Return values are small JSON documents (counts and S3 URIs), never data. Where a
stage reads and writes is the run layout's business (`engagement.layout`).
"""

import json
import time
from dataclasses import dataclass

import pyarrow.parquet as pq

from engagement import cache, claim, knowledge_base, publish, run_tables, shards, validation
from engagement.ingest import IngestError
from engagement.ingest_job import IngestLocations, ingest_s3
from engagement.layout import Buckets, Run, run_id_from_execution
from engagement.s3file import S3ReadFile
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
    shard_rows: int = 250_000  # the most customers one Inference task or CacheLoad invocation takes
    run_lock_lease_seconds: int = 2 * 3600 + 600  # the state machine's timeout, and some slack


def claim_run(s3, glue, ledger, settings: Settings, *, execution_name: str, execution: str,
              source_key: str | None) -> dict:
    run = Run(run_id_from_execution(execution_name), settings.buckets)
    return claim.claim_run(s3, glue, ledger, run, execution=execution,
                           source_key=source_key or settings.default_source_key,
                           lease_seconds=settings.run_lock_lease_seconds, now=time.time())


def ingest(s3, tokenizer: Tokenizer, settings: Settings, *, run_id: str, source_key: str) -> dict:
    run = Run(run_id, settings.buckets)
    report = run.uri("ingest_report")
    try:
        summary = ingest_s3(s3, IngestLocations(
            source=S3Uri(settings.buckets.raw, source_key), bronze=run.location("bronze"),
            quarantine=run.location("quarantine"), report=run.location("ingest_report")), tokenizer)
    except IngestError as error:
        raise StageFailed(f"{error} (nothing was ingested; see {report})") from error
    share = summary["rows_quarantined"] / summary["rows_in"]
    result = {key: summary[key] for key in ("rows_in", "rows_accepted", "rows_quarantined", "quarantined_by_reason")}
    if share > settings.max_quarantine_share:
        raise StageFailed(f"{share:.1%} of rows were quarantined (limit {settings.max_quarantine_share:.0%}): "
                          f"{summary['quarantined_by_reason']}; see {run.uri('quarantine')}")
    return {**result, "report": report, "bronze": run.uri("bronze")}


VALIDATION_BATCH_ROWS = 100_000  # rows profiled at a time: memory stays flat in the run's size


def validate(s3, settings: Settings, *, run_id: str) -> dict:
    run = Run(run_id, settings.buckets)
    bronze = pq.ParquetFile(S3ReadFile(s3, run.location("bronze")))
    profile = None
    for batch in bronze.iter_batches(batch_size=VALIDATION_BATCH_ROWS):
        profile = validation.merge(profile, validation.profile_batch(batch))
    if profile is None:
        profile = validation.profile_batch(bronze.schema_arrow.empty_table())
    _write_json(s3, run.location("feature_profile"), validation.feature_profile(profile))
    baseline, baseline_run, note = _baseline(s3, settings.buckets)
    report = validation.validate(profile, baseline, baseline_run=baseline_run, min_rows=settings.min_rows,
                                 baseline_note=note)
    _write_json(s3, run.location("validation_report"), report)
    if not report["passed"]:
        raise StageFailed("data validation failed: " + "; ".join(report["quality"]["problems"]))
    drift = report["drift"]
    return {"rows": report["quality"]["rows"], "report": run.uri("validation_report"),
            "baseline_run": drift["baseline_run"], "max_psi": drift.get("max_psi"),
            "shifted_features": drift.get("shifted", [])}


def _baseline(s3, buckets: Buckets) -> tuple[dict | None, str | None, str | None]:
    """The published run's feature profile; a run without one is validated without drift, and says so."""
    pointer = publish.read_pointer(s3, buckets)
    if pointer is None:
        return None, None, None
    location = S3Uri.parse(pointer["feature_profile"])
    if not claim.object_exists(s3, location):
        return None, pointer["run_id"], f"drift not measured: the published run's profile {location} is missing"
    return _read_json(s3, location), pointer["run_id"], None


def plan_shards(s3, settings: Settings, *, run_id: str) -> dict:
    """The manifest of the run's shards: the inference data's files cut into row ranges."""
    run = Run(run_id, settings.buckets)
    data = run.location("inference_data")
    keys = [item["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=data.bucket, Prefix=data.key)
            for item in page.get("Contents", []) if item["Size"] > 0 and not item["Key"].rsplit("/", 1)[-1].startswith(("_", "."))]
    if not keys:
        raise StageFailed(f"no inference data under {data}")
    files = [(str(S3Uri(data.bucket, key)), shards.parquet_rows(s3, data.bucket, key)) for key in sorted(keys)]
    planned = shards.plan([(uri, rows) for uri, rows in files if rows], settings.shard_rows)
    manifest = run.location("shard_manifest")
    s3.put_object(Bucket=manifest.bucket, Key=manifest.key, Body=shards.manifest_text(planned),
                  ContentType="application/json")
    return {"shards": len(planned), "rows": sum(rows for _, rows in files), "files": len(files),
            "shard_rows": settings.shard_rows, "manifest": str(manifest)}


def merge_inference(s3, settings: Settings, *, run_id: str, results: list[dict]) -> dict:
    """The run's inference summary from its shards' parts; fails naming any shard that failed."""
    shards.check(results, "Inference")
    run = Run(run_id, settings.buckets)
    parts = [_read_json(s3, shard_location(run, "inference_shard_summaries", result["shard"])) for result in results]
    summary = shards.merge_inference(parts)
    _write_json(s3, run.location("inference_summary"), summary)
    return {"rows_scored": summary["rows_scored"], "shards": summary["shards"], "summary": run.uri("inference_summary"),
            "task_seconds": summary["seconds"]["all_shards"], "slowest_shard_seconds": summary["seconds"]["slowest_shard"]}


def check_cache_load(*, results: list[dict], rows_scored: int) -> dict:
    """Every shard's items written, and as many as customers scored."""
    shards.check(results, "CacheLoad")
    written = sum(result["items_written"] for result in results)
    if written != rows_scored:
        raise StageFailed(f"CacheLoad wrote {written:,} items for {rows_scored:,} customers scored")
    return {"items_written": written, "shards": len(results),
            "seconds": round(sum(result["seconds"] for result in results), 3),
            "slowest_shard_seconds": max(result["seconds"] for result in results)}


def load_cache(s3, table: cache.CacheTable, settings: Settings, *, run_id: str, shard: str) -> dict:
    """One shard's predictions into the cache, under the run's sort key."""
    run, started = Run(run_id, settings.buckets), time.perf_counter()
    written = cache.load_cache(s3, table, shard_location(run, "predictions", shard), run_id=run_id,
                               ttl_attribute=settings.cache_ttl_attribute)
    return {"shard": shard, "items_written": written, "ttl_days": cache.CACHE_DAYS,
            "seconds": round(time.perf_counter() - started, 3)}


def write_knowledge_base(s3, agent, settings: Settings, *, run_id: str, index: knowledge_base.Index) -> dict:
    """The run's documents, each with its run id as metadata, then the knowledge base's sync of them."""
    run = Run(run_id, settings.buckets)
    docs = knowledge_base.documents(run_id, *(_read_json(s3, run.location(report)) for report in (
        "training_summary", "inference_summary", "ingest_report", "validation_report", "feature_profile")))
    target = run.location("knowledge_base_documents")
    for name, text in docs.items():
        s3.put_object(Bucket=target.bucket, Key=target.key + name, Body=text.encode(), ContentType="text/markdown")
        s3.put_object(Bucket=target.bucket, Key=target.key + name + knowledge_base.METADATA_SUFFIX,
                      Body=knowledge_base.metadata(run_id).encode(), ContentType="application/json")
    job = knowledge_base.start_ingestion(agent, index, run_id)
    return {"documents": sorted(docs), "location": str(target), "ingestion_job_id": job}


def register_run_tables(glue, settings: Settings, *, run_id: str, outputs: list[str]) -> dict:
    return run_tables.register_run_tables(glue, Run(run_id, settings.buckets), outputs)


def publish_run(s3, settings: Settings, *, run_id: str, execution_name: str, summary: dict) -> dict:
    return publish.publish(s3, Run(run_id, settings.buckets), execution=execution_name, summary=summary)


def shard_location(run: Run, place: str, shard: str) -> S3Uri:
    folder = run.location(place)
    return S3Uri(folder.bucket, folder.key + shards.SHARD_FILES[place].format(shard))


def _read_json(s3, location: S3Uri) -> dict:
    return json.loads(s3.get_object(Bucket=location.bucket, Key=location.key)["Body"].read())


def _write_json(s3, location: S3Uri, document: dict) -> None:
    s3.put_object(Bucket=location.bucket, Key=location.key, Body=json.dumps(document, indent=2, default=str).encode(),
                  ContentType="application/json")
