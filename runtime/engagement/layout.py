"""The run layout: where a run's data lives, the tables it creates, and which stage touches what.

This is to runs what `schema.py` is to the data: the one statement of their shape. The CDK app
derives IAM statements, task URIs and the SQL statements' locations from it; ClaimRun derives the
check that a run id is new; publishing derives the pointer; the erasure tool derives where a
customer's rows can be.

A run id names one execution. A place whose key holds `{run_id}` belongs to one run; the others
are shared by every run. Nothing a run writes replaces what another run wrote: the only shared
place a run writes is the published pointer, and only PublishLatest writes it.
"""

import hashlib
import re
from dataclasses import dataclass, fields

from engagement.s3uri import S3Uri

RUN = "{run_id}"


@dataclass(frozen=True, kw_only=True)
class Buckets:
    """Bucket names by their logical name (the CDK app and the local cloud fill in the real ones)."""

    raw: str
    processed: str
    models: str
    predictions: str
    results: str
    qa: str
    knowledge_base: str
    athena_results: str


BUCKETS = tuple(f.name for f in fields(Buckets))

# What the data stack exports, each as "<stack name>-<export>": every bucket's name and ARN
# (bucket_export) and these values, by the DataRefs field they fill.
SHARED_EXPORTS = {"key_arn": "DataKeyArn", "cache_table_name": "CacheTableName", "cache_table_arn": "CacheTableArn",
                  "ledger_table_name": "LedgerTableName", "ledger_table_arn": "LedgerTableArn",
                  "tokenization_secret_arn": "TokenizationSecretArn", "workgroup_name": "WorkgroupName"}


def bucket_export(bucket: str, attribute: str) -> str:
    """The export of a bucket's "Name" or "Arn": knowledge_base, Name -> KnowledgeBaseBucketName."""
    return "".join(part.capitalize() for part in bucket.split("_")) + f"Bucket{attribute}"


@dataclass(frozen=True)
class Place:
    """Objects in one bucket: a key (or a key prefix, ending in "/"), maybe holding the run id."""

    bucket: str
    key: str

    @property
    def per_run(self) -> bool:
        return RUN in self.key

    @property
    def is_prefix(self) -> bool:
        return self.key.endswith("/")

    def key_for(self, run_id: str) -> str:
        return self.key.replace(RUN, run_id)

    @property
    def pattern(self) -> str:
        """Every key of every run here, for IAM resources and list conditions."""
        return self.key.replace(RUN, "*") + ("*" if self.is_prefix else "")

    def run_of(self, key: str) -> str | None:
        """The run a key here belongs to (None: a place not per run, or a key not of this place)."""
        if not self.per_run:
            return None
        pattern = re.escape(self.key).replace(re.escape(RUN), "(?P<run>[^/]+)") + (".*" if self.is_prefix else "")
        match = re.fullmatch(pattern, key)
        return match.group("run") if match else None

    @property
    def folder(self) -> str:
        """The folder holding the place, for every run: "bronze/customers/run_id=*/"."""
        return self.pattern.rsplit("/", 1)[0] + "/"

    @property
    def list_prefixes(self) -> tuple[str, ...]:
        """What AWS services list to reach the place (`s3:prefix` values): the root (a by-run
        table's location, a knowledge base's data source), the folder (a table's or partition's
        location, as Athena lists it) and the place itself. S3 compares `s3:prefix` as given, so a
        pattern naming only files would refuse the services that list folders."""
        return tuple(dict.fromkeys((self.root, self.folder, self.pattern)))

    @property
    def root(self) -> str:
        """The folder holding every run's folder (a by-run table's location): "final_results/"."""
        return self.key.split(RUN)[0].rsplit("/", 1)[0] + "/" if self.per_run else self.key.rsplit("/", 1)[0] + "/"


PLACES = {
    # raw: the upload, and the rows ingest rejected (full rows: PII)
    "source": Place("raw", "customers/"),
    "quarantine": Place("raw", f"quarantine/run_id={RUN}/"),  # one file per upload file
    # processed: validated rows (PII as tokens), reports, the splits Athena prepares
    "bronze": Place("processed", f"bronze/customers/run_id={RUN}/"),  # one file per upload file
    "ingest_files": Place("processed", f"runs/{RUN}/ingest_files.json"),  # the upload's files, checked
    "ingest_parts": Place("processed", f"runs/{RUN}/ingest_parts/"),  # each file's ingest report
    "ingest_report": Place("processed", f"runs/{RUN}/ingest_report.json"),
    "validation_parts": Place("processed", f"runs/{RUN}/validation_parts/"),  # each bronze part's profile
    "validation_report": Place("processed", f"runs/{RUN}/validation_report.json"),
    "training_data": Place("processed", f"runs/{RUN}/training/"),
    "test_data": Place("processed", f"runs/{RUN}/test/"),
    "inference_data": Place("processed", f"runs/{RUN}/inference/"),
    "training_summary": Place("processed", f"runs/{RUN}/training_summary.json"),
    "inference_summary": Place("processed", f"runs/{RUN}/inference_summary.json"),
    # the shards both Distributed Maps fan out over, and each Inference shard's summary part
    "shard_manifest": Place("processed", f"runs/{RUN}/shards.json"),
    "inference_shard_summaries": Place("processed", f"runs/{RUN}/inference_shards/"),
    # models: the registry (models/<model>/<run id>/…) and each run's model card
    "models": Place("models", "models/"),
    "model_card": Place("models", f"model_cards/{RUN}/"),
    # outputs, one folder per run; the by-run tables register each folder as a partition
    "predictions": Place("predictions", f"predictions/run_id={RUN}/"),
    "human_review": Place("qa", f"human_review/run_id={RUN}/"),
    "final_results": Place("results", f"final_results/run_id={RUN}/"),
    "customer_features": Place("results", f"customer_features/run_id={RUN}/"),  # pseudonymised
    "knowledge_base_documents": Place("knowledge_base", f"runs/{RUN}/"),
    # the drift baseline of a run; kept with the results, which never expire
    "feature_profile": Place("results", f"profiles/run_id={RUN}/feature_profile.json"),
    # the one publish point: which run readers see (one JSON line, read by Athena too)
    "published_pointer": Place("results", "published/latest.json"),
    "query_results": Place("athena_results", "query-results/"),
}

# What a run reads when its input names no source_key (the weekly schedule, a manual start).
DEFAULT_UPLOAD_KEY = f"{PLACES['source'].key}customers.csv"


@dataclass(frozen=True)
class Table:
    """A Glue table; `name` may hold the run id (a table the run creates)."""

    database: str
    name: str

    @property
    def qualified(self) -> str:
        return f"{self.database}.{self.name}"

    def for_run(self, run_id: str) -> str:
        return self.qualified.replace(RUN, run_id)

    @property
    def pattern(self) -> str:
        return self.name.replace(RUN, "*")


# Tables each run creates (Athena CTAS), and where their files are.
RUN_TABLES = {
    "training_data": Table("engagement_raw", f"training_{RUN}"),
    "test_data": Table("engagement_raw", f"test_{RUN}"),
    "inference_data": Table("engagement_raw", f"inference_{RUN}"),
    "human_review": Table("engagement_qa", f"human_review_{RUN}"),
    "final_results": Table("engagement_analytics", f"final_results_{RUN}"),
    "customer_features": Table("engagement_analytics", f"customer_features_{RUN}"),
}

# Tables holding every run, one partition per run. The first is declared by the CDK app (its
# columns are the prediction contract); the others take their columns from the run's own table.
BY_RUN_TABLES = {
    "predictions": Table("engagement_predictions", "predictions_by_run"),
    "human_review": Table("engagement_qa", "human_review_by_run"),
    "final_results": Table("engagement_analytics", "final_results_by_run"),
    "customer_features": Table("engagement_analytics", "customer_features_by_run"),
}

# Declared by the CDK app over the published pointer: the run every published view shows.
PUBLISHED_RUN_TABLE = Table("engagement_analytics", "published_run")
BRONZE_TABLE = Table("engagement_raw", "customers_bronze")
RAW_TABLE = Table("engagement_raw", "customers")

# The stable names readers query, and the statement (sql/) that defines each. Their text names
# no run: every one reads the published run through PUBLISHED_RUN_TABLE, so the pointer alone
# switches them all at once.
PUBLISHED_VIEWS = {
    "engagement_analytics.final_results": "view_final_results",
    "engagement_qa.human_review": "view_human_review",
    "engagement_predictions.predictions": "view_predictions",
    "engagement_analytics.high_value_customers": "view_high_value_customers",
    "engagement_analytics.at_risk_customers": "view_at_risk_customers",
    "engagement_analytics.model_performance": "view_model_performance",
    "engagement_analytics.customer_features": "view_customer_features",
    "engagement_analytics.assistant_customers": "view_assistant_customers",
}
# What the assistant's SQL may read: customers without an id, beside their predictions.
ASSISTANT_VIEW = Table("engagement_analytics", "assistant_customers")

# --- who touches what ---------------------------------------------------------------------------
# S3: "list" (ListBucket on the place), "read" (objects, and listing them), "write" (objects only).
# Glue: "lookup" (a table's definition), "read" (tables and partitions, as Athena reads them),
# "create" (create or replace the table), "partition" (register partitions). Stages are the principals: Lambda stages, the two ECS tasks, and
# "state_machine" (its role: Athena runs the statements as it, and it reads the training summary).

LIST, READ, WRITE = "list", "read", "write"
LOOKUP, CREATE, PARTITION = "lookup", "create", "partition"

_EVERY_RUN_PLACE = {name: (LIST,) for name, place in PLACES.items() if place.per_run}
_ATHENA_CREATED = ("training_data", "test_data", "inference_data", "human_review", "final_results",
                   "customer_features")

S3_ACCESS: dict[str, dict[str, tuple[str, ...]]] = {
    # ClaimRun checks the upload exists and that nothing of the run id exists yet.
    "claim_run": {**_EVERY_RUN_PLACE, "source": (LIST,)},
    "plan_ingest": {"source": (READ,), "ingest_files": (WRITE,)},
    "ingest": {"source": (READ,), "quarantine": (WRITE,), "bronze": (WRITE,), "ingest_parts": (WRITE,)},
    "validate": {"bronze": (READ,), "validation_parts": (WRITE,)},
    "training": {"training_data": (READ,), "test_data": (READ,), "models": (READ, WRITE),
                 "model_card": (WRITE,), "training_summary": (WRITE,)},
    "inference": {"inference_data": (READ,), "models": (READ,), "predictions": (WRITE,),
                  "inference_shard_summaries": (WRITE,)},
    "plan_shards": {"inference_data": (READ,), "shard_manifest": (WRITE,)},
    # after each fan-out: Ingest's reports, DataValidation's profiles (and drift against the published
    # run's), Inference's summaries
    "merge_shards": {"ingest_parts": (READ,), "ingest_report": (WRITE,), "validation_parts": (READ,),
                     "validation_report": (WRITE,), "feature_profile": (READ, WRITE), "published_pointer": (READ,),
                     "inference_shard_summaries": (READ,), "inference_summary": (WRITE,)},
    # the state machine's Distributed Maps read the manifest (ItemReader)
    "state_machine": {"bronze": (READ,), "predictions": (READ,), "training_summary": (READ,),
                      "ingest_files": (READ,), "shard_manifest": (READ,), "query_results": (READ, WRITE),
                      **{name: (READ, WRITE) for name in _ATHENA_CREATED}},
    "cache_load": {"predictions": (READ,)},
    "knowledge_base": {"ingest_report": (READ,), "validation_report": (READ,), "training_summary": (READ,),
                       "inference_summary": (READ,), "feature_profile": (READ,),
                       "knowledge_base_documents": (WRITE,)},
    # Bedrock's role for the knowledge base: it reads the documents to embed them.
    "knowledge_base_index": {"knowledge_base_documents": (READ,)},
    "register_run_tables": {},
    "publish": {"published_pointer": (READ, WRITE)},
    "predict": {"published_pointer": (READ,)},  # /predict: which run is published
    # /ask: Athena runs the assistant's SELECTs over its view as its role; what_if reads the
    # scenarios Inference scored.
    "assistant": {"published_pointer": (READ,), "inference_summary": (READ,), "final_results": (READ,),
                  "customer_features": (READ,), "query_results": (READ, WRITE)},
}

GLUE_ACCESS: dict[str, dict[Table, tuple[str, ...]]] = {
    "claim_run": {table: (LOOKUP,) for table in RUN_TABLES.values()},
    "state_machine": {
        BRONZE_TABLE: (READ,), PUBLISHED_RUN_TABLE: (READ,),
        **{table: (READ,) for table in BY_RUN_TABLES.values()},
        **{table: (READ, CREATE) for table in RUN_TABLES.values()},
        **{Table(*view.split(".")): (READ, CREATE) for view in PUBLISHED_VIEWS},
    },
    "assistant": {PUBLISHED_RUN_TABLE: (READ,), BY_RUN_TABLES["customer_features"]: (READ,),
                  BY_RUN_TABLES["final_results"]: (READ,), ASSISTANT_VIEW: (READ,)},
    "register_run_tables": {
        **{RUN_TABLES[name]: (LOOKUP,) for name in BY_RUN_TABLES if name in RUN_TABLES},
        **{table: (READ, CREATE, PARTITION) for table in BY_RUN_TABLES.values()},
    },
}

STAGES = tuple(S3_ACCESS)


# --- run ids and a run's addresses ---------------------------------------------------------------

STEM_CHARS = 40
DIGEST_CHARS = 10


def run_id_from_execution(execution_name: str) -> str:
    """A run id for table names and S3 keys: lowercase letters, digits and underscores, starting
    with a letter. The readable stem may be shared by different names (case, punctuation, a long
    common start); the digest of the whole name keeps their run ids apart."""
    cleaned = re.sub(r"[^a-z0-9]+", "_", execution_name.lower()).strip("_")
    if not cleaned:
        raise ValueError(f"execution name {execution_name!r} has no letters or digits to form a run id")
    stem = ("r_" + cleaned if not cleaned[0].isalpha() else cleaned)[:STEM_CHARS].rstrip("_")
    digest = hashlib.sha256(execution_name.encode()).hexdigest()[:DIGEST_CHARS]
    return f"{stem}_{digest}"


@dataclass(frozen=True)
class Run:
    """One run's addresses."""

    run_id: str
    buckets: Buckets

    def location(self, place: str) -> S3Uri:
        spec = PLACES[place]
        return S3Uri(getattr(self.buckets, spec.bucket), spec.key_for(self.run_id))

    def uri(self, place: str) -> str:
        return str(self.location(place))

    def table(self, name: str) -> str:
        return RUN_TABLES[name].for_run(self.run_id)

    def owned_locations(self) -> list[S3Uri]:
        """Every place that belongs to this run alone."""
        return [self.location(name) for name, place in PLACES.items() if place.per_run]


def sql_values(buckets: Buckets, run_id: str) -> dict[str, str]:
    """What the sql/ statements' placeholders stand for: `{run_id}`, each place's s3:// URI, and
    each run table's qualified name as `{<name>_table}`."""
    run = Run(run_id, buckets)
    return {"run_id": run_id, **{name: run.uri(name) for name in PLACES},
            **{f"{name}_table": run.table(name) for name in RUN_TABLES}}
