"""s3://bucket/key addresses."""

from typing import NamedTuple


class S3Uri(NamedTuple):
    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str) -> "S3Uri":
        if not uri.startswith("s3://") or "/" not in uri[5:]:
            raise ValueError(f"not an s3://bucket/key address: {uri!r}")
        bucket, key = uri[5:].split("/", 1)
        if not bucket or not key:
            raise ValueError(f"not an s3://bucket/key address: {uri!r}")
        return cls(bucket, key)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"
