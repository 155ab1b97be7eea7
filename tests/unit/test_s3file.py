"""Parquet over ranged S3 reads: a batch at a time, a few GETs a row group, never the whole file."""

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from engagement.s3file import STREAM_BATCH_ROWS, S3ReadFile, batches, streamed_parquet
from engagement.s3uri import S3Uri


class RangedS3:
    """get_object / head_object over one object in memory, counting the GETs and their bytes."""

    def __init__(self, data: bytes):
        self.data, self.gets, self.largest = data, 0, 0

    def head_object(self, Bucket, Key):
        return {"ContentLength": len(self.data)}

    def get_object(self, Bucket, Key, Range):
        low, high = (int(n) for n in Range.removeprefix("bytes=").split("-"))
        self.gets += 1
        self.largest = max(self.largest, high + 1 - low)
        return {"Body": io.BytesIO(self.data[low:high + 1])}


def parquet_bytes(rows: int, row_group_rows: int) -> tuple[bytes, pa.Table]:
    rng = np.random.default_rng(0)
    table = pa.table({f"c{i}": rng.random(rows) for i in range(20)} | {"id": [f"CUST-{n:08d}" for n in range(rows)]})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=row_group_rows)
    return buffer.getvalue(), table


def test_a_file_is_read_a_row_group_at_a_time_in_a_few_gets_each():
    data, table = parquet_bytes(rows=100_000, row_group_rows=10_000)
    s3 = RangedS3(data)
    parquet = streamed_parquet(S3ReadFile(s3, S3Uri("bucket", "key.parquet")))
    read = list(batches(parquet))
    assert pa.Table.from_batches(read).equals(table)
    assert max(batch.num_rows for batch in read) <= STREAM_BATCH_ROWS
    # a footer, then a coalesced read or two a row group (a GET per column chunk would be 210)
    assert s3.gets <= 2 + 2 * parquet.num_row_groups, s3.gets
    assert s3.largest < len(data) / 5  # no read holds the file


def test_only_the_row_groups_asked_for_are_read():
    data, table = parquet_bytes(rows=100_000, row_group_rows=10_000)
    s3 = RangedS3(data)
    parquet = streamed_parquet(S3ReadFile(s3, S3Uri("bucket", "key.parquet")))
    read = pa.Table.from_batches(list(batches(parquet, [3, 4])))
    assert read.equals(table.slice(30_000, 20_000))
    assert s3.gets <= 2 + 2 * 2
