"""An S3 object as a read-only, seekable file that fetches only the byte ranges asked for.

pyarrow's Parquet reader reads a footer, then the column chunks of the row groups it iterates:
over this file, a stage reads a Parquet object of any size a batch at a time, in flat memory and
without the Lambda's small /tmp.
"""

import io

from engagement.s3uri import S3Uri


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
