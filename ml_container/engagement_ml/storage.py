"""Read and write s3://… or local paths alike (AWS_ENDPOINT_URL redirects S3 to a local endpoint)."""

import io
import json
from functools import cache
from pathlib import Path

import polars as pl

from engagement.s3uri import S3Uri


@cache
def _s3():
    import boto3

    return boto3.client("s3")


def is_s3(uri: str) -> bool:
    return uri.startswith("s3://")


def join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


def read_bytes(uri: str) -> bytes:
    if is_s3(uri):
        location = S3Uri.parse(uri)
        return _s3().get_object(Bucket=location.bucket, Key=location.key)["Body"].read()
    return Path(uri).read_bytes()


def write_bytes(uri: str, data: bytes) -> None:
    if is_s3(uri):
        location = S3Uri.parse(uri)
        _s3().put_object(Bucket=location.bucket, Key=location.key, Body=data)
    else:
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
        Path(uri).write_bytes(data)


def read_json(uri: str) -> dict:
    return json.loads(read_bytes(uri))


def write_json(uri: str, document: dict) -> None:
    write_bytes(uri, json.dumps(document, indent=2, default=str).encode())


def exists(uri: str) -> bool:
    if is_s3(uri):
        location = S3Uri.parse(uri)
        return "Contents" in _s3().list_objects_v2(Bucket=location.bucket, Prefix=location.key, MaxKeys=1)
    return Path(uri).exists()


def read_parquet(uri: str) -> pl.DataFrame:
    """One Parquet object, or every Parquet object under a folder/prefix (as Athena CTAS writes)."""
    if not is_s3(uri):
        path = Path(uri)
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(("_", "."))) \
            if path.is_dir() else [path]
        if not files:
            raise FileNotFoundError(f"no data files under {uri}")
        return pl.concat([pl.read_parquet(f) for f in files], how="vertical_relaxed")
    location = S3Uri.parse(uri)
    keys = _keys_under(location)
    if not keys:
        raise FileNotFoundError(f"no data objects under {uri}")
    frames = [pl.read_parquet(io.BytesIO(_s3().get_object(Bucket=location.bucket, Key=k)["Body"].read()))
              for k in keys]
    return pl.concat(frames, how="vertical_relaxed")


def write_parquet(uri: str, frame: pl.DataFrame) -> None:
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="snappy")
    write_bytes(uri, buffer.getvalue())


def _keys_under(location: S3Uri) -> list[str]:
    paginator = _s3().get_paginator("list_objects_v2")
    keys = []
    for page in paginator.paginate(Bucket=location.bucket, Prefix=location.key):
        for item in page.get("Contents", []):
            name = item["Key"].rsplit("/", 1)[-1]
            if item["Size"] > 0 and not name.startswith(("_", ".")) and not item["Key"].endswith("/"):
                keys.append(item["Key"])
    return sorted(keys)


def read_parquet_rows(uri: str, *, first_row: int, rows: int) -> pl.DataFrame:
    """Rows [first_row, first_row + rows) of one Parquet object: only the row groups holding the
    range are read (by ranged reads on S3), a batch at a time."""
    import pyarrow as pa

    from engagement.s3file import S3ReadFile, batches, streamed_parquet

    parquet = streamed_parquet(S3ReadFile(_s3(), S3Uri.parse(uri)) if is_s3(uri) else uri)
    end, groups, position, start = first_row + rows, [], 0, None
    for index in range(parquet.num_row_groups):  # the row groups overlapping the range
        size = parquet.metadata.row_group(index).num_rows
        if position + size > first_row and position < end:
            groups.append(index)
            start = position if start is None else start
        position += size
    kept, position = [], start or 0
    for batch in batches(parquet, groups):
        low, high = max(first_row - position, 0), min(end - position, batch.num_rows)
        if high > low:
            kept.append(batch.slice(low, high - low))
        position += batch.num_rows
        if position >= end:
            break
    return pl.from_arrow(pa.Table.from_batches(kept, schema=parquet.schema_arrow))


def read_parquet_sample(uri: str, max_rows: int, seed: int = 0) -> tuple[pl.DataFrame, int]:
    """At most `max_rows` rows (0: all) of the Parquet objects at `uri`, a fixed-seed sample drawn
    without holding more than one batch beyond it; and how many rows there were in all."""
    import numpy as np
    import pyarrow as pa

    from engagement.s3file import batches, streamed_parquet

    files = [streamed_parquet(source) for source in _sources(uri)]
    if not files:
        raise FileNotFoundError(f"no data {'objects' if is_s3(uri) else 'files'} under {uri}")
    total = sum(f.metadata.num_rows for f in files)
    if max_rows == 0 or total <= max_rows:
        keep = None
    else:
        keep = np.sort(np.random.default_rng(seed).choice(total, size=max_rows, replace=False))
    kept, position = [], 0
    for parquet in files:
        for batch in batches(parquet):
            if keep is None:
                kept.append(batch)
            else:
                low, high = np.searchsorted(keep, [position, position + batch.num_rows])
                if high > low:
                    kept.append(batch.take(pa.array(keep[low:high] - position)))
            position += batch.num_rows
    return pl.from_arrow(pa.Table.from_batches(kept, schema=files[0].schema_arrow)), total


def _sources(uri: str) -> list:
    """Each Parquet object at `uri` (a file, a folder or a prefix) as something pyarrow can open:
    a path, or an S3 object read by ranges (engagement.s3file)."""
    if not is_s3(uri):
        path = Path(uri)
        return sorted(str(p) for p in path.rglob("*") if p.is_file() and not p.name.startswith(("_", "."))) \
            if path.is_dir() else [str(path)]
    from engagement.s3file import S3ReadFile

    location = S3Uri.parse(uri)
    return [S3ReadFile(_s3(), S3Uri(location.bucket, key)) for key in _keys_under(location)]
