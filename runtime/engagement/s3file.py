"""An S3 object as a read-only, seekable file that fetches only the byte ranges asked for.

pyarrow's Parquet reader reads a footer, then the column chunks of the row groups it iterates:
over this file, a stage reads a Parquet object of any size a batch at a time, in flat memory and
without the Lambda's small /tmp.
"""

import io

import pyarrow.parquet as pq

from engagement.s3uri import S3Uri

# Column chunks are read through a buffer of this size rather than whole, and row groups are not
# pre-buffered (pyarrow's default fetches every row group asked for at once): memory follows the
# batch being read, not the size of the file or of the row groups its writer chose.
READ_BUFFER_BYTES = 8 << 20
# Small batches, decoded on one thread: only a batch or two is ever in flight. Measured: larger
# batches, or threads, made peak memory grow with the file's row groups (tens of MB at 1M rows).
STREAM_BATCH_ROWS = 16_384


def streamed_parquet(source) -> pq.ParquetFile:
    """A Parquet file (a path, or an S3ReadFile) to be read a batch at a time (`batches`)."""
    return pq.ParquetFile(source, buffer_size=READ_BUFFER_BYTES, pre_buffer=False)


def batches(parquet: pq.ParquetFile, row_groups: list[int] | None = None):
    return parquet.iter_batches(batch_size=STREAM_BATCH_ROWS, row_groups=row_groups, use_threads=False)


class S3ReadFile(io.RawIOBase):
    def __init__(self, s3, location: S3Uri) -> None:
        self._s3, self._location = s3, location
        self._size = s3.head_object(Bucket=location.bucket, Key=location.key)["ContentLength"]
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer) -> int:
        end = min(self._position + len(buffer), self._size)
        if end <= self._position:
            return 0
        body = self._s3.get_object(Bucket=self._location.bucket, Key=self._location.key,
                                   Range=f"bytes={self._position}-{end - 1}")["Body"].read()
        buffer[:len(body)] = body
        self._position += len(body)
        return len(body)
