"""The synthesized state machine, executed end to end in the embedded local cloud.

One local cloud for the module: a successful run, then runs that must fail (a corrupt upload, a
failing container, a quality gate that says no), each leaving the first run's results published.
"""

import json
import time

import pyarrow.parquet as pq
import pytest

from datagen.generator import GeneratorConfig
from datagen.writer import write_dataset
from engagement.schema import PII_COLUMNS
from localcloud import executors
from localcloud.cloud import LocalCloud
from localcloud.progress import Progress

ROWS = 10_000


@pytest.fixture(scope="module")
def cloud(synthesized, tmp_path_factory):
    state = tmp_path_factory.mktemp("localcloud")
    cloud = LocalCloud(state)
    cloud.start()
    cloud.deploy(synthesized.outdir)
    write_dataset(GeneratorConfig(rows=ROWS, seed=8), state / "data", progress=None)
    cloud.upload_source(state / "data" / "customers.csv")
    sqs = cloud.client("sqs")
    queue = sqs.create_queue(QueueName="notifications")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    [topic] = cloud.client("sns").list_topics()["Topics"]
    cloud.client("sns").subscribe(TopicArn=topic["TopicArn"], Protocol="sqs", Endpoint=arn)
    cloud.notifications = queue
    cloud.first = cloud.run(name="first-run", timeout_s=600)
    yield cloud
    executors.REGISTRY.athena.close()
    cloud.stop()


def bucket(cloud, name: str) -> str:
    return next(v for k, v in cloud.deployment.exports.items() if k.endswith(f"-{name}BucketName"))


def latest(cloud) -> dict:
    return json.loads(cloud.client("s3").get_object(Bucket=bucket(cloud, "Results"), Key="latest.json")["Body"].read())


def query(sql: str) -> list[tuple]:
    with executors.ATHENA_LOCK:
        return executors.REGISTRY.athena.execute(sql)


def notifications(cloud) -> list[dict]:
    """Notifications since the last call (received messages are deleted, or they would reappear)."""
    sqs = cloud.client("sqs")
    messages = sqs.receive_message(QueueUrl=cloud.notifications, MaxNumberOfMessages=10,
                                   WaitTimeSeconds=1).get("Messages", [])
    for message in messages:
        sqs.delete_message(QueueUrl=cloud.notifications, ReceiptHandle=message["ReceiptHandle"])
    return [json.loads(json.loads(m["Body"])["Message"]) for m in messages]


def test_execution_succeeds_and_publishes(cloud):
    assert cloud.first["status"] == "SUCCEEDED", cloud.first.get("cause")
    assert latest(cloud)["run_id"] == "first_run"
    assert [n["status"] for n in notifications(cloud)] == ["SUCCEEDED"]


def test_the_summary_reports_rows_per_state(cloud):
    progress = Progress()
    for event in cloud.first["events"]:
        progress.event(event)

    def count_rows(table: str) -> int:
        return query(f"SELECT count(*) FROM {table}")[0][0]

    assert progress.rows("Ingest", count_rows) == f"{ROWS:,} -> {ROWS:,}"
    training, test = (int(progress.rows(s, count_rows).replace(",", "")) for s in ("PrepareTrainingData",
                                                                                  "PrepareTestData"))
    assert training + test == ROWS and training > 3 * test
    assert progress.rows("CreateResultsTable", count_rows) == progress.rows("CacheLoad", count_rows) == f"{ROWS:,}"
    assert 300 <= int(progress.rows("CreateQaTable", count_rows)) <= 450


def test_one_prediction_per_customer_and_no_pii(cloud):
    assert query("SELECT count(*), count(DISTINCT customer_id) FROM engagement_predictions.predictions") == \
        [(ROWS, ROWS)]
    columns = {row[0] for row in query("DESCRIBE engagement_analytics.final_results")}
    assert not columns & {*PII_COLUMNS, "age", *(f"{c}_token" for c in PII_COLUMNS)}
    emails = {row[0] for row in query("SELECT email FROM engagement_raw.customers LIMIT 50")}
    found = query("SELECT count(*) FROM engagement_analytics.final_results WHERE "
                  + " OR ".join(f"customer_id = '{e}' OR segment_name = '{e}'" for e in emails))
    assert found == [(0,)]


def test_qa_table_and_views(cloud):
    assert 300 <= query("SELECT count(*) FROM engagement_qa.human_review")[0][0] <= 450
    reasons = {row[0] for row in query("SELECT DISTINCT qa_reason FROM engagement_qa.human_review")}
    assert reasons == {"top_prediction", "bottom_prediction", "large_error", "random_baseline"}
    for view in ("final_results", "high_value_customers", "at_risk_customers", "model_performance"):
        assert query(f"SELECT count(*) FROM engagement_analytics.{view}")[0][0] > 0, view


def test_the_glue_catalog_holds_the_declared_tables_the_run_tables_and_the_views(cloud):
    glue = cloud.client("glue")
    tables = {(t["DatabaseName"], t["Name"]): t for database in ("engagement_raw", "engagement_qa",
                                                                  "engagement_analytics", "engagement_predictions")
              for t in glue.get_tables(DatabaseName=database)["TableList"]}
    assert tables[("engagement_raw", "customers_bronze")]["PartitionKeys"][0]["Name"] == "run_id"
    assert tables[("engagement_raw", "training_first_run")]["StorageDescriptor"]["Location"].startswith("s3://")
    assert tables[("engagement_analytics", "final_results")]["TableType"] == "VIRTUAL_VIEW"
    assert "final_results_first_run" in tables[("engagement_analytics", "final_results")]["ViewOriginalText"]


def test_cache_holds_every_customer_with_a_ttl(cloud):
    dynamodb = cloud.client("dynamodb")
    [table] = dynamodb.list_tables()["TableNames"]
    items, start = [], None
    while True:
        page = dynamodb.scan(TableName=table, **({"ExclusiveStartKey": start} if start else {}))
        items += page["Items"]
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    assert len({item["customer_id"]["S"] for item in items}) == ROWS
    assert all(int(item["expires_at"]["N"]) > time.time() + 6 * 86_400 for item in items)
    cached = json.loads(items[0]["prediction"]["S"])
    [(churn, segment)] = query("SELECT churn_probability, segment_name FROM engagement_predictions.predictions "
                               f"WHERE customer_id = '{items[0]['customer_id']['S']}'")
    assert cached["churn_probability"] == pytest.approx(churn, abs=1e-6) and cached["segment_name"] == segment


def test_a_corrupt_upload_fails_the_run_and_keeps_the_published_results(cloud, tmp_path):
    lines = (cloud.state_dir / "data" / "customers.csv").read_bytes().split(b"\n")
    corrupt = b"\n".join([lines[0]] + [line[:30] if i % 4 == 0 else line for i, line in enumerate(lines[1:])])
    (tmp_path / "corrupt.csv").write_bytes(corrupt)
    cloud.upload_source(tmp_path / "corrupt.csv", key="customers/corrupt.csv")
    result = cloud.run(name="corrupt-upload", source_key="customers/corrupt.csv", timeout_s=300)
    assert result["status"] == "FAILED" and result["error"] == "EngagementPipelineFailed"
    [failure] = notifications(cloud)
    assert failure["status"] == "FAILED" and failure["error"] == "StageFailed"
    assert "of rows were quarantined" in failure["cause"]
    assert latest(cloud)["run_id"] == "first_run"
    assert query("SELECT DISTINCT run_id FROM engagement_analytics.final_results") == [("first_run",)]


def test_a_failing_container_fails_the_run(cloud):
    [training] = {id(t): t for key, t in executors.REGISTRY.tasks.items() if t.command == ["train"]}.values()
    training.command = ["not-a-command"]
    try:
        result = cloud.run(name="broken-container", timeout_s=300)
    finally:
        training.command = ["train"]
    assert result["status"] == "FAILED"
    assert [n["status"] for n in notifications(cloud)] == ["FAILED"]
    assert latest(cloud)["run_id"] == "first_run"


def test_a_failed_quality_gate_publishes_nothing(cloud):
    [training] = {id(t): t for key, t in executors.REGISTRY.tasks.items() if t.command == ["train"]}.values()
    training.environment["QUALITY_MIN_ENGAGEMENT_R2"] = "0.999"
    try:
        result = cloud.run(name="strict-gate", timeout_s=300)
    finally:
        del training.environment["QUALITY_MIN_ENGAGEMENT_R2"]
    assert result["status"] == "FAILED" and result["error"] == "QualityGateFailed"
    received = notifications(cloud)
    assert len(received) == 1, received
    [notice] = received
    assert notice["status"] == "QUALITY_GATE_FAILED"
    assert any(c["name"] == "engagement_r2" and not c["passed"] for c in notice["checks"])
    assert latest(cloud)["run_id"] == "first_run"
    assert query("SELECT DISTINCT run_id FROM engagement_analytics.final_results") == [("first_run",)]
    assert query("SELECT count(*) FROM engagement_predictions.predictions") == [(ROWS,)]


def test_generated_parquet_has_no_pii_in_predictions(cloud):
    s3 = cloud.client("s3")
    key = "predictions/run_id=first_run/predictions.parquet"
    body = s3.get_object(Bucket=bucket(cloud, "Predictions"), Key=key)["Body"].read()
    import io

    assert not set(pq.read_schema(io.BytesIO(body)).names) & set(PII_COLUMNS)
