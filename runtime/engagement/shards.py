"""Shards: bounded slices of a run's customers that the state machine fans out over.

PlanShards cuts the inference data (the Parquet files Athena's CTAS wrote, in whatever sizes it
chose) into row ranges of at most `shard_rows` customers and writes them as one JSON array, the
manifest both Distributed Maps read (`ItemReader`): one Inference task per shard, then one
CacheLoad invocation per shard's predictions file. A shard's outputs are named by its id, so a
retried shard rewrites only its own files.

Each Inference task summarises its shard in sums and counts (`part`); MergeShards adds the parts
up into the run's inference summary, so the merged summary equals one computed in a single pass
(tests/unit/test_shards.py). A child that fails is caught inside the map and comes back as
{"shard": id, "failed": …}: MergeShards fails the run naming every failed shard, so nothing is
published.
"""

import io
import json
import struct

import numpy as np

ENGAGEMENT_BINS = 1_000  # the engagement score's histogram over [0, 1]: the median to within 0.0005
PARQUET_TAIL = 8  # a Parquet file ends with its footer's length (4 bytes, little-endian) and "PAR1"
FOOTER_READ = 64 * 1024  # the first guess at the footer's size (one ranged GET covers most)


# A shard's files in a per-run folder (engagement.layout), named by the shard's id.
SHARD_FILES = {"predictions": "shard-{}.parquet", "inference_shard_summaries": "shard-{}.json",
               "bronze": "part-{}.parquet", "quarantine": "part-{}.jsonl", "ingest_parts": "part-{}.json",
               "validation_parts": "part-{}.json"}


class ShardsFailed(Exception):
    """Some shards failed: the run stops before anything is published."""


def shard_name(index: int) -> str:
    return f"{index:05d}"


def plan(files: list[tuple[str, int]], shard_rows: int) -> list[dict]:
    """Row ranges of at most `shard_rows`, file by file (a shard never spans two files); `files`:
    (s3:// URI, rows)."""
    if shard_rows < 1:
        raise ValueError(f"shard_rows must be at least 1, got {shard_rows}")
    shards = []
    for uri, rows in files:
        for first in range(0, rows, shard_rows):
            shards.append({"shard": shard_name(len(shards)), "uri": uri, "first_row": first,
                           "rows": min(shard_rows, rows - first)})
    return shards


def parquet_rows(s3, bucket: str, key: str) -> int:
    """A Parquet object's row count, from its footer (one or two ranged reads, never the data)."""
    import pyarrow.parquet as pq

    size = s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
    tail = _range(s3, bucket, key, max(0, size - FOOTER_READ), size)
    if tail[-4:] != b"PAR1":
        raise ValueError(f"s3://{bucket}/{key} is not a Parquet file")
    footer_length = struct.unpack("<I", tail[-PARQUET_TAIL:-4])[0]
    needed = footer_length + PARQUET_TAIL
    if needed > len(tail):
        tail = _range(s3, bucket, key, size - needed, size)
    # pyarrow reads a footer from the end of a file; the leading magic makes the tail one
    return pq.read_metadata(io.BytesIO(b"PAR1" + tail[-needed:])).num_rows


def _range(s3, bucket: str, key: str, start: int, end: int) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end - 1}")["Body"].read()


# --- inference parts and their merge -----------------------------------------------------------

def engagement_histogram(values: np.ndarray) -> list[int]:
    counts, _ = np.histogram(np.clip(values, 0.0, 1.0), bins=ENGAGEMENT_BINS, range=(0.0, 1.0))
    return counts.tolist()


def merge_inference(parts: list[dict]) -> dict:
    """The run's inference summary from its shards' parts (same fields whatever the shard count)."""
    if not parts:
        raise ValueError("no shard summaries to merge")
    rows = sum(part["rows_scored"] for part in parts)
    engagement = [part["engagement"] for part in parts]
    histogram = np.sum([e["histogram"] for e in engagement], axis=0)
    segments: dict[str, int] = {}
    for part in parts:
        for name, count in part["segments"].items():
            segments[name] = segments.get(name, 0) + count
    return {
        "rows_scored": rows,
        "shards": len(parts),
        "model_version": parts[0]["model_version"],
        "engagement_range": {"min": round(min(e["min"] for e in engagement), 4),
                             "max": round(max(e["max"] for e in engagement), 4),
                             "mean": round(sum(e["sum"] for e in engagement) / rows, 4),
                             "median": round(_histogram_median(histogram, rows), 4)},
        "churn_flagged": sum(part["churn_flagged"] for part in parts),
        "anomalies_flagged": sum(part["anomalies_flagged"] for part in parts),
        "anomaly_threshold": parts[0]["anomaly_threshold"],
        "segments": dict(sorted(segments.items())),
        "what_if": [_merged_scenario([part["what_if"][i] for part in parts]) for i in range(len(parts[0]["what_if"]))],
        "threads": parts[0]["threads"],
        "seconds": {"slowest_shard": max(part["seconds"]["total"] for part in parts),
                    "all_shards": round(sum(part["seconds"]["total"] for part in parts), 3)},
    }


def _histogram_median(counts: np.ndarray, rows: int) -> float:
    """The median, interpolated within the bin that holds it."""
    cumulative = np.cumsum(counts)
    index = int(np.searchsorted(cumulative, rows / 2))
    before = cumulative[index - 1] if index else 0
    width = 1.0 / ENGAGEMENT_BINS
    return index * width + width * (rows / 2 - before) / max(counts[index], 1)


def _merged_scenario(parts: list[dict]) -> dict:
    """One what-if scenario over every shard, from each shard's sums (engagement_ml.what_if)."""
    total = {key: sum(part[key] for part in parts) for key in parts[0] if key not in ("name", "description")}
    customers, changed = total["customers"], total["customers_changed"]
    before_mean = total["engagement_sum"] / customers
    after_mean = (total["engagement_sum"] - total["changed_engagement_before_sum"]
                  + total["changed_engagement_after_sum"]) / customers
    churn_change = total["changed_churn_after_sum"] - total["changed_churn_before_sum"]
    return {
        "name": parts[0]["name"], "description": parts[0]["description"], "customers": customers,
        "customers_changed": changed,
        "mean_engagement_before": round(before_mean, 5),
        "mean_engagement_after": round(after_mean, 5),
        "engagement_change": round(after_mean - before_mean, 5),
        "changed_mean_engagement_before": round(total["changed_engagement_before_sum"] / changed, 5) if changed else None,
        "changed_mean_engagement_after": round(total["changed_engagement_after_sum"] / changed, 5) if changed else None,
        "expected_churners_before": round(total["churn_sum"], 1),
        "expected_churners_after": round(total["churn_sum"] + churn_change, 1),
        "expected_churners_change": round(churn_change, 1),
        "ltv_p50_change_usd": round(total["changed_ltv_p50_after_sum"] - total["changed_ltv_p50_before_sum"], 2),
    }


def failed_shards(results: list[dict]) -> list[str]:
    """'shard 00003: <error>: <cause>' for every child the map caught failing."""
    return [f"shard {result['shard']}: {result['failed'].get('Error')}: {str(result['failed'].get('Cause'))[:300]}"
            for result in results if result.get("failed")]


def check(results: list[dict], stage: str) -> None:
    failures = failed_shards(results)
    if failures:
        raise ShardsFailed(f"{stage}: {len(failures)} of {len(results)} shards failed; nothing was published. "
                           + "; ".join(failures))


def manifest_text(shards: list[dict]) -> bytes:
    return json.dumps(shards, separators=(",", ":")).encode()
