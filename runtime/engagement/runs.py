"""Where each run's data lives. Every stage writes under its run's prefixes; only publishing
points the stable names at a run."""

import re
from dataclasses import asdict, dataclass

from engagement.s3uri import S3Uri

MAX_RUN_ID = 48


def run_id_from_execution(execution_name: str) -> str:
    """A run id usable in table names and S3 keys: lowercase letters, digits and underscores,
    starting with a letter (execution names are free text up to 80 characters)."""
    cleaned = re.sub(r"[^a-z0-9]+", "_", execution_name.lower()).strip("_")
    if not cleaned:
        raise ValueError(f"execution name {execution_name!r} has no letters or digits to form a run id")
    return ("r_" + cleaned if not cleaned[0].isalpha() else cleaned)[:MAX_RUN_ID]


@dataclass(frozen=True, kw_only=True)
class Buckets:
    raw: str
    processed: str
    models: str
    predictions: str
    results: str
    qa: str
    knowledge_base: str


@dataclass(frozen=True)
class RunLocations:
    run_id: str
    buckets: Buckets

    def _uri(self, bucket: str, key: str) -> str:
        return str(S3Uri(bucket, key))

    @property
    def bronze(self) -> str:
        return self._uri(self.buckets.processed, f"bronze/customers/run_id={self.run_id}/customers.parquet")

    @property
    def quarantine(self) -> str:
        return self._uri(self.buckets.raw, f"quarantine/run_id={self.run_id}/customers.jsonl")

    def report(self, name: str) -> str:
        return self._uri(self.buckets.processed, f"runs/{self.run_id}/{name}.json")

    def split(self, name: str) -> str:
        return self._uri(self.buckets.processed, f"runs/{self.run_id}/{name}/")

    @property
    def predictions(self) -> str:
        return self._uri(self.buckets.predictions, f"predictions/run_id={self.run_id}/predictions.parquet")

    @property
    def knowledge_base(self) -> str:
        return self._uri(self.buckets.knowledge_base, f"runs/{self.run_id}/")

    def staging_prefixes(self) -> list[S3Uri]:
        """Everything this run writes, for clean-up before a (re)run."""
        return [
            S3Uri(self.buckets.processed, f"bronze/customers/run_id={self.run_id}/"),
            S3Uri(self.buckets.processed, f"runs/{self.run_id}/"),
            S3Uri(self.buckets.raw, f"quarantine/run_id={self.run_id}/"),
            S3Uri(self.buckets.predictions, f"predictions/run_id={self.run_id}/"),
            S3Uri(self.buckets.qa, f"human_review/run_id={self.run_id}/"),
            S3Uri(self.buckets.results, f"final_results/run_id={self.run_id}/"),
            S3Uri(self.buckets.knowledge_base, f"runs/{self.run_id}/"),
        ]

    def run_tables(self) -> list[tuple[str, str]]:
        """(database, table) created by this run's CTAS statements."""
        return [
            ("engagement_raw", f"training_{self.run_id}"),
            ("engagement_raw", f"test_{self.run_id}"),
            ("engagement_raw", f"inference_{self.run_id}"),
            ("engagement_qa", f"human_review_{self.run_id}"),
            ("engagement_analytics", f"final_results_{self.run_id}"),
        ]

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "buckets": asdict(self.buckets)}
