"""The publish point: one S3 object naming the run every reader sees.

The published views read it (through the `published_run` table), `/predict` reads it to pick the
run's cache items, and people read it. Until PublishLatest replaces it, every reader sees the
previous run; replacing it is one conditional PUT, so a publish is all or nothing. The object is
one JSON line (Athena's JSON SerDe reads a line per row).
"""

import json
from datetime import UTC, datetime

from engagement.layout import PLACES, PUBLISHED_VIEWS, Buckets, Run
from engagement.s3uri import S3Uri


class PublishConflict(Exception):
    """The pointer changed between reading and replacing it."""


def pointer_location(buckets: Buckets) -> S3Uri:
    place = PLACES["published_pointer"]
    return S3Uri(getattr(buckets, place.bucket), place.key)


def read_pointer(s3, buckets: Buckets) -> dict | None:
    """The published pointer, or None before the first publish."""
    document, _ = _read_with_etag(s3, pointer_location(buckets))
    return document


def publish(s3, run: Run, *, execution: str, summary: dict) -> dict:
    """Point readers at `run`. A retry after a successful write changes nothing and answers the same."""
    location = pointer_location(run.buckets)
    previous, etag = _read_with_etag(s3, location)
    if previous and previous["run_id"] == run.run_id:
        return _answer(previous, location)
    pointer = {
        "run_id": run.run_id,
        "execution": execution,
        "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "previous_run_id": previous["run_id"] if previous else None,
        "views": list(PUBLISHED_VIEWS),
        "predictions": run.uri("predictions"),
        "knowledge_base": run.uri("knowledge_base_documents"),
        "feature_profile": run.uri("feature_profile"),
        "summary": summary,
    }
    condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
    try:
        s3.put_object(Bucket=location.bucket, Key=location.key, ContentType="application/json",
                      Body=(json.dumps(pointer, separators=(",", ":")) + "\n").encode(), **condition)
    except s3.exceptions.ClientError as error:
        if error.response["Error"]["Code"] != "PreconditionFailed":
            raise
        raise PublishConflict(f"{location} changed while run {run.run_id} was being published; "
                              "nothing was replaced") from error
    return _answer(pointer, location)


def _answer(pointer: dict, location: S3Uri) -> dict:
    return {"run_id": pointer["run_id"], "previous_run_id": pointer["previous_run_id"], "pointer": str(location)}


def _read_with_etag(s3, location: S3Uri) -> tuple[dict | None, str | None]:
    listed = s3.list_objects_v2(Bucket=location.bucket, Prefix=location.key, MaxKeys=1).get("Contents", [])
    if not any(item["Key"] == location.key for item in listed):
        return None, None
    response = s3.get_object(Bucket=location.bucket, Key=location.key)
    return json.loads(response["Body"].read()), response["ETag"]
