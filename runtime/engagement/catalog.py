"""The Glue tables the CDK app declares (as opposed to the per-run tables SQL creates and the
by-run tables RegisterRunTables keeps). Names and locations come from the run layout.

Locations name logical buckets; the CDK app resolves them to the real buckets, the local cloud
to its own. Run partitions are either projected (Athena computes the partition from the run id
a query names: bronze, which only per-run statements read) or registered (RegisterRunTables adds
each run's partition: tables the published views join with the pointer, which projection cannot
serve because it needs the run id as a literal).
"""

from dataclasses import dataclass

from engagement.layout import BRONZE_TABLE, BY_RUN_TABLES, PLACES, PUBLISHED_RUN_TABLE, RAW_TABLE, Table
from engagement.predictions_schema import PREDICTION_COLUMNS
from engagement.schema import bronze_glue_columns, raw_glue_columns

PROJECTED, REGISTERED = "projected", "registered"


@dataclass(frozen=True, kw_only=True)
class TableSpec:
    table: Table
    description: str
    columns: tuple[tuple[str, str, str], ...]
    place: str  # the layout place whose root is the table's location
    format: str  # "csv", "parquet" or "json" (one JSON object per line)
    run_partitions: str | None = None  # PROJECTED or REGISTERED

    @property
    def bucket(self) -> str:
        return PLACES[self.place].bucket

    @property
    def prefix(self) -> str:
        return PLACES[self.place].root


RUN_PARTITION = ("run_id", "string", "Pipeline run (execution) that wrote the rows")
POINTER_COLUMNS = (
    ("run_id", "string", "The published run"),
    ("execution", "string", "The execution that published it"),
    ("published_at", "string", "When (ISO 8601, UTC)"),
    ("previous_run_id", "string", "The run published before it"),
)

TABLES = (
    TableSpec(
        table=RAW_TABLE, place="source", format="csv",
        description="Customer CSV files as uploaded (text, unvalidated, contains PII)",
        columns=raw_glue_columns(),
    ),
    TableSpec(
        table=BRONZE_TABLE, place="bronze", format="parquet", run_partitions=PROJECTED,
        description="Validated customers, typed, PII replaced by keyed tokens; one partition per run",
        columns=bronze_glue_columns(),
    ),
    TableSpec(
        table=BY_RUN_TABLES["predictions"], place="predictions", format="parquet", run_partitions=REGISTERED,
        description="Every model's output per customer, with top-5 reasons; one partition per run",
        columns=PREDICTION_COLUMNS,
    ),
    TableSpec(
        table=PUBLISHED_RUN_TABLE, place="published_pointer", format="json",
        description="The published pointer: the one run every published view shows",
        columns=POINTER_COLUMNS,
    ),
)
