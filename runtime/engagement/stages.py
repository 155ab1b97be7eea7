"""The pipeline's Lambda stages as plain functions of (AWS clients, settings, request).

Handlers parse the event, build clients once, and call one of these; tests call them directly
against moto. Return values are small JSON documents (counts and S3 URIs), never data. Where a
stage reads and writes is the run layout's business (`engagement.layout`).
"""

import json
import time
from dataclasses import dataclass

from engagement import cache, claim, knowledge_base, publish, run_tables, shards, validation
from engagement.arrow_schema import bronze_schema
from engagement.ingest import IngestError
from engagement.ingest import header_of as ingest_header
from engagement.ingest_job import IngestLocations, ingest_s3
from engagement.layout import DEFAULT_UPLOAD_KEY, Buckets, Run, run_id_from_execution
from engagement.s3file import S3ReadFile, batches, streamed_parquet
from engagement.s3uri import S3Uri
from engagement.tokenize import Tokenizer


class StageFailed(Exception):
    """A stage refuses to let the run continue (the state machine's Catch reports it)."""


MAX_QUARANTINE_SHARE = 0.05  # more of an upload's rows quarantined than this refuses the run


@dataclass(frozen=True, kw_only=True)
class Settings:
    """What the stacks set for every stage function (their defaults live in stacks.platform)."""

    buckets: Buckets
    min_rows: int  # DataValidation refuses smaller uploads
    shard_rows: int  # the most customers one Inference task or CacheLoad invocation takes
    run_lock_lease_seconds: int  # the state machine's timeout, and some slack


def claim_run(s3, glue, ledger, settings: Settings, *, execution_name: str, execution: str,
              source_key: str | None) -> dict:
    run = Run(run_id_from_execution(execution_name), settings.buckets)
    return claim.claim_run(s3, glue, ledger, run, execution=execution,
                           source_key=source_key or DEFAULT_UPLOAD_KEY,
                           lease_seconds=settings.run_lock_lease_seconds, now=time.time())


HEADER_BYTES = 64 * 1024  # read of each upload file's start: its header line
COUNTS = ("rows_in", "rows_accepted", "rows_quarantined")


def plan_ingest(s3, settings: Settings, *, run_id: str, source_key: str) -> dict:
    """The upload's files (one file, or every CSV under a prefix ending in "/"), each header checked
    against the contract and against the first file's, before any row is read: a mismatch anywhere
    refuses the run with nothing written."""
    run, raw = Run(run_id, settings.buckets), settings.buckets.raw
    keys = [source_key] if not source_key.endswith("/") else sorted(
        item["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=raw, Prefix=source_key)
        for item in page.get("Contents", []) if item["Key"].lower().endswith(".csv"))
    if not keys:
        raise StageFailed(f"no .csv file under s3://{raw}/{source_key}")
    headers, problems = {}, []
    for key in keys:
        start = s3.get_object(Bucket=raw, Key=key, Range=f"bytes=0-{HEADER_BYTES - 1}")["Body"].read()
        try:
            headers[key] = ingest_header(start.split(b"\n", 1)[0] + b"\n", f"s3://{raw}/{key}")
        except IngestError as error:
            problems.append(str(error))
    first = next(iter(headers.values()), None)
    problems += [f"s3://{raw}/{key}: its header differs from s3://{raw}/{keys[0]}'s (every file of an upload "
                 "has the same columns in the same order)" for key, header in headers.items() if header != first]
    if problems:
        raise StageFailed(f"the upload is refused before any row was read ({len(keys)} files): " + "; ".join(problems))
    files = [{"shard": shards.shard_name(index), "key": key} for index, key in enumerate(keys)]
    manifest = run.location("ingest_files")
    s3.put_object(Bucket=manifest.bucket, Key=manifest.key, Body=shards.manifest_text(files),
                  ContentType="application/json")
    return {"files": len(files), "manifest": str(manifest)}


def ingest(s3, tokenizer: Tokenizer, settings: Settings, *, run_id: str, source_key: str, part: str) -> dict:
    """One file of the upload: its accepted rows to bronze, its rejected rows to quarantine, and its
    report, each named by the file's part."""
    run, started = Run(run_id, settings.buckets), time.perf_counter()
    report = shard_location(run, "ingest_parts", part)
    try:
        summary = ingest_s3(s3, IngestLocations(
            source=S3Uri(settings.buckets.raw, source_key), bronze=shard_location(run, "bronze", part),
            quarantine=shard_location(run, "quarantine", part), report=report), tokenizer)
    except IngestError as error:
        raise StageFailed(f"{error} (nothing of it was ingested; see {report})") from error
    return {"shard": part, **{key: summary[key] for key in COUNTS}, "seconds": round(time.perf_counter() - started, 3)}


def merge_ingest(s3, settings: Settings, *, run_id: str, results: list[dict]) -> dict:
    """The run's ingest report from its files' reports; the quarantine limit applies to the upload."""
    shards.check(results, "Ingest")
    run = Run(run_id, settings.buckets)
    parts = [_read_json(s3, shard_location(run, "ingest_parts", result["shard"])) for result in results]
    totals = {key: sum(part[key] for part in parts) for key in COUNTS}
    by_reason: dict[str, int] = {}
    for part in parts:
        for reason, count in part["quarantined_by_reason"].items():
            by_reason[reason] = by_reason.get(reason, 0) + count
    report = {**totals, "quarantined_by_reason": by_reason, "files": len(parts),
              "reconciled": totals["rows_in"] == totals["rows_accepted"] + totals["rows_quarantined"],
              "warnings": sorted({w for part in parts for w in part["warnings"]}), "parts": parts}
    _write_json(s3, run.location("ingest_report"), report)
    share = totals["rows_quarantined"] / max(totals["rows_in"], 1)
    if share > MAX_QUARANTINE_SHARE:
        raise StageFailed(f"{share:.1%} of rows were quarantined (limit {MAX_QUARANTINE_SHARE:.0%}): "
                          f"{by_reason}; see {run.uri('quarantine')}")
    return {**totals, "quarantined_by_reason": by_reason, "files": len(parts), "report": run.uri("ingest_report"),
            "bronze": run.uri("bronze"), "seconds": round(sum(result["seconds"] for result in results), 3),
            "slowest_file_seconds": max(result["seconds"] for result in results)}


def profile_part(s3, settings: Settings, *, run_id: str, part: str) -> dict:
    """DataValidation of one bronze part (one upload file), a batch at a time: its mergeable profile,
    written as counts (JSON) and ids (bytes sorted by bucket) beside the other parts'."""
    run, started = Run(run_id, settings.buckets), time.perf_counter()
    bronze = streamed_parquet(S3ReadFile(s3, shard_location(run, "bronze", part)))
    profile = validation.profile_batch(bronze_schema().empty_table())
    for batch in batches(bronze):
        profile = validation.merge(profile, validation.profile_batch(batch))
    counts, ids = validation.to_parts(profile)
    location = shard_location(run, "validation_parts", part)
    _write_json(s3, location, counts)
    s3.put_object(Bucket=location.bucket, Key=_ids_key(location), Body=ids)
    return {"shard": part, "rows": profile["rows"], "seconds": round(time.perf_counter() - started, 3)}


def merge_validation(s3, settings: Settings, *, run_id: str, results: list[dict]) -> dict:
    """The parts' profiles merged (equal to one pass over every row), then the quality report and
    drift against the published run; a run whose data breaks the contract stops here."""
    shards.check(results, "DataValidation")
    run, profile = Run(run_id, settings.buckets), None
    for result in results:
        location = shard_location(run, "validation_parts", result["shard"])
        stored_ids = S3ReadFile(s3, S3Uri(location.bucket, _ids_key(location)))  # read a bucket at a time
        profile = validation.merge(profile, validation.from_parts(_read_json(s3, location), stored_ids.read_range))
    return {**_validated(s3, settings, run, profile), "seconds": round(sum(r["seconds"] for r in results), 3)}


def _ids_key(counts: S3Uri) -> str:
    return counts.key.removesuffix(".json") + ".ids"


def _validated(s3, settings: Settings, run: Run, profile: dict) -> dict:
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


def merge_shards(s3, settings: Settings, *, stage: str, run_id: str, results: list[dict], rows_scored: int) -> dict:
    """After a fanned-out stage: every item's result checked (a failed one fails the run, named) and merged."""
    if stage == "Ingest":
        return merge_ingest(s3, settings, run_id=run_id, results=results)
    if stage == "DataValidation":
        return merge_validation(s3, settings, run_id=run_id, results=results)
    if stage == "Inference":
        return merge_inference(s3, settings, run_id=run_id, results=results)
    if stage == "CacheLoad":
        return check_cache_load(results=results, rows_scored=rows_scored)
    raise ValueError(f"stage: expected Ingest, DataValidation, Inference or CacheLoad, got {stage!r}")


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
    written = cache.load_cache(s3, table, shard_location(run, "predictions", shard), run_id=run_id)
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
