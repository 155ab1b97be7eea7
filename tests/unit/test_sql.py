"""Every statement in sql/ parses as Trino and runs on DuckDB against a small generated set,
in pipeline order: bronze -> splits -> (models) -> predictions -> QA, results -> run partitions ->
views -> the published pointer; and the engine takes only what Athena would."""

import time
import io
import json

import boto3
import duckdb
import pytest
import sqlglot
from moto import mock_aws

import sql
from datagen.generator import GeneratorConfig
from datagen.writer import write_dataset
from engagement.catalog import REGISTERED, RUN_PARTITION, TABLES, TableSpec
from engagement.ingest import ingest_csv
from engagement.layout import PUBLISHED_VIEWS, Buckets, Run, sql_values
from engagement.predictions_schema import ASSISTANT_PREDICTIONS
from engagement.run_tables import register_run_tables
from engagement.schema import FEATURE_COLUMNS, ID_COLUMN, PII_COLUMNS, TARGET_COLUMNS, deidentified_columns
from engagement.tokenize import Tokenizer
from engagement_ml.config import InferConfig, TrainConfig
from engagement_ml.infer import infer
from engagement_ml.train import train
from localcloud.athena_duckdb import PARQUET_SERDE, AthenaOnDuckDB, AthenaSqlError, FolderStore, GlueCatalog

ROWS = 5_000
RUN = "r20261122"
BUCKETS = Buckets(raw="raw", processed="processed", models="models", predictions="predictions", results="results",
                  qa="qa", knowledge_base="knowledge", athena_results="athena-results")
VALUES = sql_values(BUCKETS, RUN)
SERDES = {"csv": "org.apache.hadoop.hive.serde2.OpenCSVSerde", "parquet": PARQUET_SERDE,
          "json": "org.openx.data.jsonserde.JsonSerDe"}


def table_input(spec: TableSpec) -> dict:
    """The Glue entry the CDK app declares for a spec (the parts the engine reads)."""
    projected = spec.run_partitions and spec.run_partitions != REGISTERED
    return {"Name": spec.table.name, "TableType": "EXTERNAL_TABLE",
            "Parameters": {"projection.enabled": "true"} if projected else
            {"skip.header.line.count": "1"} if spec.format == "csv" else {},
            "PartitionKeys": [{"Name": RUN_PARTITION[0], "Type": "string"}] if spec.run_partitions else [],
            "StorageDescriptor": {"Columns": [{"Name": n, "Type": t} for n, t, _ in spec.columns],
                                  "Location": f"s3://{getattr(BUCKETS, spec.bucket)}/{spec.prefix}",
                                  "SerdeInfo": {"SerializationLibrary": SERDES[spec.format]}}}


def publish_pointer(root, run_id: str) -> None:
    """What PublishLatest writes (one JSON line), written where the engine's store reads it."""
    pointer = root / "results" / "published" / "latest.json"
    pointer.parent.mkdir(parents=True, exist_ok=True)
    pointer.write_text(json.dumps({"run_id": run_id, "previous_run_id": None}) + "\n")


@pytest.fixture(scope="module")
def glue():
    with mock_aws():
        client = boto3.client("glue", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")
        for database in ("engagement_raw", "engagement_predictions", "engagement_qa", "engagement_analytics"):
            client.create_database(DatabaseInput={"Name": database})
        for spec in TABLES:
            client.create_table(DatabaseName=spec.table.database, TableInput=table_input(spec))
        yield client


def test_every_statement_parses_as_trino_and_names_only_known_parameters():
    assert len(sql.names()) >= 11
    for name in sql.names():
        statement = sql.load(name)
        assert set(statement.parameters) <= set(VALUES), name
        sqlglot.parse_one(statement.render(VALUES), read="trino")


def test_published_views_name_no_run():
    """Publishing is the pointer's job alone: a view that named a run would need switching."""
    for statement in PUBLISHED_VIEWS.values():
        assert sql.load(statement).parameters == (), statement


def test_a_statement_refuses_to_render_without_its_parameters():
    with pytest.raises(KeyError, match="needs values for final_results, final_results_table, run_id"):
        sql.load("final_results").render({})


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, glue):
    root = tmp_path_factory.mktemp("s3")
    generated = tmp_path_factory.mktemp("gen")
    write_dataset(GeneratorConfig(rows=ROWS, seed=3), generated, progress=None)
    bronze = root / "processed" / "bronze" / "customers" / f"run_id={RUN}"
    bronze.mkdir(parents=True)
    with (generated / "customers.csv").open("rb") as source, (bronze / "customers.parquet").open("wb") as out:
        ingest_csv(source, bronze=out, quarantine=io.BytesIO(), tokenizer=Tokenizer(b"k" * 32), source_name="t")
    athena = AthenaOnDuckDB(FolderStore(root), GlueCatalog(glue))

    def run(name: str) -> list[tuple]:
        return athena.execute(sql.load(name).render(VALUES))

    counts = {name: run(name)[0][0] for name in ("prepare_training", "prepare_test", "prepare_inference")}
    runs = root / "processed" / "runs" / RUN
    train(TrainConfig(training_data_uri=str(runs / "training"), test_data_uri=str(runs / "test"),
                      model_registry_uri=str(root / "models" / "models"), model_version=RUN, threads=2))
    infer(InferConfig(inference_data_uri=str(runs / "inference"), model_registry_uri=str(root / "models" / "models"),
                      model_version=RUN, predictions_uri=str(root / "predictions" / "predictions" / f"run_id={RUN}" /
                                                             "predictions.parquet"), threads=2))
    register_run_tables(glue, Run(RUN, BUCKETS), ["predictions"])
    for name in ("qa_review", "final_results", "customer_features"):
        counts[name] = run(name)[0][0]
    register_run_tables(glue, Run(RUN, BUCKETS), ["human_review", "final_results", "customer_features"])
    for name in PUBLISHED_VIEWS.values():
        run(name)
    publish_pointer(root, RUN)
    return athena, counts, root


def test_split_is_80_20_and_inference_is_everyone(pipeline):
    _, counts, _ = pipeline
    assert counts["prepare_training"] + counts["prepare_test"] == counts["prepare_inference"] == ROWS
    assert counts["prepare_training"] / ROWS == pytest.approx(0.8, abs=0.03)


def test_split_is_stable_by_customer_id(pipeline):
    athena, _, _ = pipeline
    overlap = athena.execute(f"SELECT count(*) FROM engagement_raw.training_{RUN} t "
                             f"JOIN engagement_raw.test_{RUN} s ON s.customer_id = t.customer_id")
    assert overlap == [(0,)]


def test_qa_table_has_about_400_rows_with_every_reason(pipeline):
    athena, counts, _ = pipeline
    assert 300 <= counts["qa_review"] <= 450
    reasons = dict(athena.execute("SELECT qa_reason, count(*) FROM engagement_qa.human_review GROUP BY 1"))
    assert reasons == {"top_prediction": 100, "bottom_prediction": 100, "large_error": 100, "random_baseline": 100}
    [(in_test,)] = athena.execute("SELECT bool_and(in_test_split) FROM engagement_qa.human_review "
                                  "WHERE qa_reason = 'large_error'")
    assert in_test is True


def test_customer_features_hold_every_feature_and_label_and_nothing_that_identifies(pipeline):
    """The assistant's view of the data itself: the contract's features and labels, age as a band,
    no PII column and no token."""
    athena, counts, _ = pipeline
    assert counts["customer_features"] == ROWS
    columns = [row[0] for row in athena.execute("DESCRIBE engagement_analytics.customer_features")]
    assert sorted(columns) == sorted({ID_COLUMN, "run_id", *deidentified_columns()})
    assert "age" not in columns and {"age_band", *FEATURE_COLUMNS, *TARGET_COLUMNS} - {"age"} <= set(columns)
    bands = {row[0] for row in athena.execute("SELECT DISTINCT age_band FROM engagement_analytics.customer_features")}
    assert bands <= {"18-24", "25-34", "35-44", "45-54", "55+"} and len(bands) == 5


def test_the_assistants_view_is_the_contracts_columns_with_no_id_one_row_per_customer(pipeline):
    athena, _, _ = pipeline
    columns = [row[0] for row in athena.execute("DESCRIBE engagement_analytics.assistant_customers")]
    assert columns == [*deidentified_columns(), *ASSISTANT_PREDICTIONS]
    assert ID_COLUMN not in columns and "run_id" not in columns
    assert athena.execute("SELECT count(*) FROM engagement_analytics.assistant_customers") == [(ROWS,)]


def test_a_name_without_a_database_reads_default_and_never_a_file(pipeline):
    """Athena reads a bare name from the query's database (`default` without one); DuckDB would
    read a name it does not know as a file path (a replacement scan) under the mirror."""
    athena, _, root = pipeline
    bronze = next((root / "processed").rglob("*.parquet")).relative_to(root.resolve())
    for name in ("final_results", f'"{root.resolve() / bronze}"', f'"{bronze}"'):
        with pytest.raises(AthenaSqlError, match="TABLE_NOT_FOUND: Table 'awsdatacatalog.default."):
            athena.execute(f"SELECT count(*) FROM {name}")
    with pytest.raises(AthenaSqlError, match="TABLE_NOT_FOUND"):  # a WITH query's name outside its scope
        athena.execute("SELECT count(*) FROM (WITH final_results AS (SELECT 1 AS one) SELECT * FROM final_results) "
                       "WHERE 1 IN (SELECT one FROM final_results)")


def test_final_results_one_row_per_customer_with_tiers_and_no_pii(pipeline):
    athena, counts, _ = pipeline
    assert counts["final_results"] == ROWS
    assert athena.execute("SELECT count(DISTINCT customer_id) FROM engagement_analytics.final_results") == [(ROWS,)]
    columns = {row[0] for row in athena.execute("DESCRIBE engagement_analytics.final_results")}
    assert not columns & {*PII_COLUMNS, "age", *(f"{c}_token" for c in PII_COLUMNS)}
    assert {"churn_risk_tier", "predicted_engagement_category", "prediction_quality", "account_type"} <= columns
    tiers = {row[0] for row in athena.execute("SELECT DISTINCT churn_risk_tier FROM engagement_analytics.final_results")}
    assert tiers <= {"low", "medium", "high"} and len(tiers) >= 2


def test_analytics_views_are_queryable(pipeline):
    athena, _, _ = pipeline
    [(high_value,)] = athena.execute("SELECT count(*) FROM engagement_analytics.high_value_customers")
    assert high_value == pytest.approx(ROWS / 10, rel=0.1)
    [(at_risk,)] = athena.execute("SELECT count(*) FROM engagement_analytics.at_risk_customers")
    assert 0 < at_risk < ROWS
    performance = athena.execute("SELECT customers, engagement_mae FROM engagement_analytics.model_performance")
    assert sum(row[0] for row in performance) == ROWS and all(row[1] < 0.2 for row in performance)
    assert athena.execute("SELECT count(*) FROM engagement_predictions.predictions") == [(ROWS,)]


def test_ctas_refuses_an_existing_table_like_athena(pipeline):
    athena, _, _ = pipeline
    with pytest.raises(AthenaSqlError, match="already exists"):
        athena.execute(sql.load("prepare_training").render(VALUES))


def test_tables_and_views_are_in_the_glue_catalog(pipeline, glue):
    training = glue.get_table(DatabaseName="engagement_raw", Name=f"training_{RUN}")["Table"]
    assert training["TableType"] == "EXTERNAL_TABLE"
    assert training["StorageDescriptor"]["Location"] == f"s3://processed/runs/{RUN}/training/"
    assert {"Name": "customer_id", "Type": "string"} in training["StorageDescriptor"]["Columns"]
    view = glue.get_table(DatabaseName="engagement_analytics", Name="final_results")["Table"]
    assert view["TableType"] == "VIRTUAL_VIEW"
    assert "final_results_by_run" in view["ViewOriginalText"] and RUN not in view["ViewOriginalText"]
    by_run = glue.get_table(DatabaseName="engagement_analytics", Name="final_results_by_run")["Table"]
    assert by_run["PartitionKeys"] == [{"Name": "run_id", "Type": "string",
                                        "Comment": "Pipeline run (execution) that wrote the rows"}]
    assert "run_id" not in {c["Name"] for c in by_run["StorageDescriptor"]["Columns"]}
    [partition] = glue.get_partitions(DatabaseName="engagement_analytics", TableName="final_results_by_run")["Partitions"]
    assert partition["Values"] == [RUN]
    assert partition["StorageDescriptor"]["Location"] == f"s3://results/final_results/run_id={RUN}/"


def test_a_table_dropped_through_glue_is_gone_and_drop_follows_athena(pipeline, glue):
    athena, _, _ = pipeline
    athena.execute("CREATE TABLE engagement_qa.scratch WITH (format = 'PARQUET', "
                   "external_location = 's3://qa/scratch/') AS SELECT 1 AS one")
    assert athena.execute("SELECT one FROM engagement_qa.scratch") == [(1,)]
    glue.delete_table(DatabaseName="engagement_qa", Name="scratch")  # as PreCleanup does
    with pytest.raises(AthenaSqlError, match="scratch' does not exist"):
        athena.execute("SELECT one FROM engagement_qa.scratch")
    athena.execute("DROP TABLE IF EXISTS engagement_qa.scratch")
    with pytest.raises(AthenaSqlError, match="Table engagement_qa.scratch does not exist"):
        athena.execute("DROP TABLE engagement_qa.scratch")


def test_ddl_athena_would_refuse_is_refused_by_name(pipeline):
    athena, _, _ = pipeline
    with pytest.raises(AthenaSqlError, match="View engagement_analytics.final_results already exists"):
        athena.execute("CREATE VIEW engagement_analytics.final_results AS SELECT 1 AS one")
    with pytest.raises(AthenaSqlError, match="name the database of scratch"):
        athena.execute("CREATE TABLE scratch WITH (external_location = 's3://qa/x/') AS SELECT 1 AS one")
    with pytest.raises(AthenaSqlError, match="CTAS needs external_location"):
        athena.execute("CREATE TABLE engagement_qa.scratch AS SELECT 1 AS one")
    with pytest.raises(AthenaSqlError, match="unsupported statement here: CREATE SCHEMA"):
        athena.execute("CREATE SCHEMA engagement_extra")
    with pytest.raises(AthenaSqlError, match="holds 2 statements; one at a time"):
        athena.execute("SELECT 1; SELECT 2")
    with pytest.raises(AthenaSqlError, match="unsupported statement here: COPY"):
        athena.execute("COPY (SELECT 1) TO '/tmp/x.csv'")


def test_a_catalog_view_over_a_missing_table_is_named(pipeline, glue):
    athena, _, _ = pipeline
    glue.create_table(DatabaseName="engagement_qa", TableInput={
        "Name": "orphan", "TableType": "VIRTUAL_VIEW", "ViewExpandedText": "SELECT * FROM engagement_qa.nothing"})
    try:
        with pytest.raises(AthenaSqlError, match=r"catalog views read tables that do not exist: \['engagement_qa.orphan'\]"):
            athena.execute("SELECT 1")
    finally:
        glue.delete_table(DatabaseName="engagement_qa", Name="orphan")
    assert athena.execute("SELECT 1") == [(1,)]


def test_without_a_catalog_only_queries_run(tmp_path):
    athena = AthenaOnDuckDB(FolderStore(tmp_path), None)
    assert athena.execute("SELECT 1") == [(1,)]
    with pytest.raises(AthenaSqlError, match="queries only"):
        athena.execute("CREATE VIEW engagement_qa.v AS SELECT 1 AS one")


def test_unparseable_sql_is_reported(tmp_path):
    athena = AthenaOnDuckDB(FolderStore(tmp_path), None)
    with pytest.raises(AthenaSqlError, match="cannot parse the statement as Trino SQL"):
        athena.execute("SELEC nothing FROM")


def test_registering_a_run_again_changes_nothing(pipeline, glue):
    register_run_tables(glue, Run(RUN, BUCKETS), ["predictions", "human_review", "final_results", "customer_features"])
    for database, table in (("engagement_analytics", "final_results_by_run"), ("engagement_qa", "human_review_by_run"),
                            ("engagement_predictions", "predictions_by_run")):
        assert len(glue.get_partitions(DatabaseName=database, TableName=table)["Partitions"]) == 1, table


def test_views_show_the_published_run_only_and_the_pointer_switches_them_all(pipeline, glue):
    """A second run registered but not published stays invisible; replacing the pointer switches
    every view at once."""
    athena, _, root = pipeline
    other = "r_other"
    source = root / "results" / "final_results" / f"run_id={RUN}" / "data.parquet"
    staged = root / "results" / "final_results" / f"run_id={other}" / "data.parquet"
    staged.parent.mkdir(parents=True)
    staged.write_bytes(source.read_bytes())
    for place in ("human_review", "predictions"):
        here, there = Run(RUN, BUCKETS).location(place), Run(other, BUCKETS).location(place)
        (root / there.bucket / there.key).mkdir(parents=True)
        for file in (root / here.bucket / here.key).glob("*.parquet"):
            (root / there.bucket / there.key / file.name).write_bytes(file.read_bytes())
    glue.create_table(DatabaseName="engagement_analytics", TableInput={
        "Name": f"final_results_{other}", "StorageDescriptor": glue.get_table(
            DatabaseName="engagement_analytics", Name=f"final_results_{RUN}")["Table"]["StorageDescriptor"]})
    glue.create_table(DatabaseName="engagement_qa", TableInput={
        "Name": f"human_review_{other}", "StorageDescriptor": glue.get_table(
            DatabaseName="engagement_qa", Name=f"human_review_{RUN}")["Table"]["StorageDescriptor"]})
    register_run_tables(glue, Run(other, BUCKETS), ["predictions", "human_review", "final_results"])
    views = ("engagement_analytics.final_results", "engagement_qa.human_review", "engagement_predictions.predictions",
             "engagement_analytics.high_value_customers")
    for view in views:
        assert athena.execute(f"SELECT DISTINCT run_id FROM {view}") == [(RUN,)], view
    assert athena.execute("SELECT count(*) FROM engagement_predictions.predictions_by_run") == [(2 * ROWS,)]
    publish_pointer(root, other)
    try:
        for view in views:
            assert athena.execute(f"SELECT DISTINCT run_id FROM {view}") == [(other,)], view
    finally:
        publish_pointer(root, RUN)


def test_catalog_views_must_be_one_query(pipeline, glue):
    athena, _, _ = pipeline
    glue.create_table(DatabaseName="engagement_qa", TableInput={
        "Name": "sneaky", "TableType": "VIRTUAL_VIEW", "ViewExpandedText": "SELECT 1; COPY (SELECT 1) TO '/tmp/x'"})
    try:
        with pytest.raises(AthenaSqlError, match="catalog view engagement_qa.sneaky holds 2 statements"):
            athena.execute("SELECT 1")
    finally:
        glue.delete_table(DatabaseName="engagement_qa", Name="sneaky")


def test_csv_tables_read_as_open_csv_serde_does_whatever_each_file_looks_like(pipeline):
    """Columns by position from the declaration, not sniffed per file: a damaged upload beside a
    good one still reads (short rows padded with NULL), and a quoted newline stays in its field."""
    [raw] = [spec for spec in TABLES if spec.format == "csv"]
    names = [name for name, _, _ in raw.columns]
    athena, _, root = pipeline
    folder = root / getattr(BUCKETS, raw.bucket) / raw.prefix
    folder.mkdir(parents=True, exist_ok=True)
    header = ",".join(names) + "\n"
    (folder / "good.csv").write_text(header + "C1," + ",".join(["x"] * (len(names) - 2)) + ',"two\nlines"\n')
    (folder / "damaged.csv").write_text(header + "C2,short\nC3;semi;colons\n")
    rows = athena.execute(f"SELECT {names[0]}, {names[1]}, {names[-1]} FROM {raw.table.qualified} ORDER BY 1")
    assert rows == [("C1", "x", "two\nlines"), ("C2", "short", None), ("C3;semi;colons", None, None)]


def test_the_engine_reads_and_writes_only_under_its_store(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    athena = AthenaOnDuckDB(FolderStore(tmp_path / "store"), None)
    with pytest.raises(AthenaSqlError, match="calls table functions"):
        athena.execute(f"SELECT * FROM read_text('{outside}')")
    with pytest.raises(duckdb.PermissionException):  # DuckDB itself is fenced in, whatever the parser lets by
        athena.con.execute(f"SELECT * FROM read_text('{outside}')")
    with pytest.raises(AthenaSqlError, match="leads outside"):
        FolderStore(tmp_path / "store").folder("s3://bucket/../../escape/")


def test_queries_run_side_by_side_and_a_running_one_stops_when_interrupted(pipeline):
    """A slow query neither blocks another nor outlives StopQueryExecution (one lock used to
    serialise every statement, and nothing could stop one)."""
    import threading

    athena, _, _ = pipeline
    slow = ("SELECT count(*) FROM engagement_analytics.customer_features a JOIN engagement_analytics.customer_features b "
            "ON a.avg_daily_logins <> b.avg_daily_logins JOIN engagement_analytics.customer_features c "
            "ON b.total_connections <> c.total_connections")
    failed = []
    running = threading.Thread(target=lambda: _record_failure(failed, lambda: athena.result(slow, query_id="slow")),
                               daemon=True)
    running.start()
    for _ in range(5):  # while it runs, other queries answer
        assert athena.execute("SELECT count(*) FROM engagement_analytics.final_results") == [(ROWS,)]
        time.sleep(0.1)
    assert running.is_alive()
    deadline = time.monotonic() + 10
    while running.is_alive() and time.monotonic() < deadline:
        athena.interrupt("slow")
        running.join(timeout=0.2)
    assert not running.is_alive() and failed and "Query cancelled" in failed[0]


def _record_failure(failures: list, call) -> None:
    try:
        call()
    except AthenaSqlError as error:
        failures.append(str(error))


@pytest.fixture(scope="module")
def assistant_rows(pipeline):
    import polars as pl
    athena, _, _ = pipeline
    columns, rows = athena.result("SELECT * FROM engagement_analytics.assistant_customers")
    return pl.DataFrame(rows, schema=[name for name, _ in columns], orient="row", infer_schema_length=None)


def test_the_corpus_holds_sixty_statements_of_every_kind():
    from tests.unit.sql_corpus import CASES
    statements = [statement.upper() for statement, _, _ in CASES]
    assert len(statements) >= 60
    for construct in ("WITH ", " OVER (", "APPROX_PERCENTILE", "CASE WHEN", "TRY_CAST", '"', "UNION ALL",
                      "LIMIT", "DATE_ADD", "HAVING", "NTILE", "LAG("):
        assert any(construct in s for s in statements), construct


@pytest.mark.parametrize("case", range(60), ids=lambda i: f"statement-{i}")
def test_sql_a_model_writes_passes_the_guard_and_equals_polars(case, pipeline, assistant_rows):
    """What the assistant's query_athena would run (the guard's rendering) on the local Athena engine."""
    from engagement.assistant_tools import MAX_ROWS, READABLE_TABLES
    from engagement.sql_guard import aggregate_select
    from tests.unit.sql_corpus import CASES, same
    statement, expected, how = CASES[case]
    athena, _, _ = pipeline
    guarded = aggregate_select(statement, allowed_tables=READABLE_TABLES, max_rows=MAX_ROWS)
    actual = athena.execute(guarded)
    wanted = expected(assistant_rows)
    assert same(actual, wanted, how), (statement, actual[:5], wanted[:5])
