"""The Glue tables the CDK app declares (as opposed to the per-run tables SQL creates).

Locations name logical buckets ("raw", "processed", "predictions"); the CDK app resolves them to
the real buckets, the local cloud to its own. Tables partitioned by `run_id` use Athena partition
projection (injected): a query names the run, and no partition ever has to be registered.
"""

from dataclasses import dataclass

from engagement.predictions_schema import PREDICTION_COLUMNS
from engagement.schema import bronze_glue_columns, raw_glue_columns


@dataclass(frozen=True, kw_only=True)
class TableSpec:
    database: str
    name: str
    description: str
    columns: tuple[tuple[str, str, str], ...]
    bucket: str  # logical bucket
    prefix: str
    format: str  # "csv" or "parquet"
    run_partitioned: bool = False

    @property
    def qualified_name(self) -> str:
        return f"{self.database}.{self.name}"


RUN_PARTITION = ("run_id", "string", "Pipeline run (execution) that wrote the rows")

TABLES = (
    TableSpec(
        database="engagement_raw", name="customers", bucket="raw", prefix="customers/", format="csv",
        description="Customer CSV files as uploaded (text, unvalidated, contains PII)",
        columns=raw_glue_columns(),
    ),
    TableSpec(
        database="engagement_raw", name="customers_bronze", bucket="processed", prefix="bronze/customers/",
        format="parquet", run_partitioned=True,
        description="Validated customers, typed, PII replaced by keyed tokens; one partition per run",
        columns=bronze_glue_columns(),
    ),
    TableSpec(
        database="engagement_predictions", name="predictions_by_run", bucket="predictions", prefix="predictions/",
        format="parquet", run_partitioned=True,
        description="Every model's output per customer, with top-5 reasons; one partition per run",
        columns=PREDICTION_COLUMNS,
    ),
)
