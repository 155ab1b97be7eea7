"""The synthesized state machine, executed end to end in the embedded local cloud.

One local cloud for the module: a successful run, then runs that must fail (a corrupt upload, a
failing container, a quality gate that says no, a stage failing inside BuildOutputs after the
cache was staged, PublishLatest failing after every output was staged, a run started while
another holds the lock). Each leaves the first run fully served: the published pointer, every
published view and `/predict`.
"""

import io
import json
import threading
import time
import zipfile
from pathlib import Path

import boto3
import polars as pl
import pyarrow.parquet as pq
import pytest

import planner

from datagen.generator import GeneratorConfig
from datagen.writer import write_dataset
from engagement import cache
from engagement.layout import BUCKETS, DEFAULT_UPLOAD_KEY, PUBLISHED_VIEWS, Buckets, run_id_from_execution
from engagement_cli.commands import upload
from engagement.schema import ID_COLUMN, PII_COLUMNS
from localcloud import functions, rest_apis
from localcloud.cloud import LocalCloud
from localcloud.progress import Progress
from tests.e2e import seed_answers

ROWS = 10_000
FAILING_ROWS = 4_000  # runs meant to fail need fewer customers
SHARD_ROWS = 3_500  # as `-c shardRows=3500`: the first run fans out over 3 shards, the failing ones over 2
FIRST = "first-run"


@pytest.fixture(scope="module")
def cloud(local_assembly, local_images, tmp_path_factory):
    state = tmp_path_factory.mktemp("localcloud")
    cloud = LocalCloud(state, images=local_images, converse=planner.converse)
    cloud.start()
    cloud.deploy(local_assembly, output=lambda line: None)
    set_environment(cloud, stage_function(cloud, "PlanShards"), SHARD_ROWS=str(SHARD_ROWS))
    write_dataset(GeneratorConfig(rows=ROWS, seed=8), state / "data", progress=None)
    write_dataset(GeneratorConfig(rows=FAILING_ROWS, seed=9), state / "small", progress=None)
    upload(cloud, state / "data" / "customers.csv", DEFAULT_UPLOAD_KEY)
    upload(cloud, state / "small" / "customers.csv", "customers/small.csv")
    sqs = cloud.client("sqs")
    queue = sqs.create_queue(QueueName="notifications")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    [topic] = cloud.client("sns").list_topics()["Topics"]
    cloud.client("sns").subscribe(TopicArn=topic["TopicArn"], Protocol="sqs", Endpoint=arn)
    cloud.notifications = queue
    cloud.first = cloud.run(FIRST, {}, timeout_s=600)  # no source_key: the default upload
    cloud.served = snapshot(cloud)  # what readers saw after the first run
    yield cloud
    cloud.stop()


def buckets(cloud) -> Buckets:
    exports = cloud.deployment.exports
    return Buckets(**{name: next(v for k, v in exports.items()
                                 if k.endswith("-" + "".join(p.capitalize() for p in name.split("_")) + "BucketName"))
                      for name in BUCKETS})


def pointer(cloud) -> dict:
    key = "published/latest.json"
    return json.loads(cloud.client("s3").get_object(Bucket=buckets(cloud).results, Key=key)["Body"].read())


def predict(cloud, customer_id: str = "CUST-00000001") -> dict | None:
    """What `/predict` answers (the reader resolves the published run through the pointer)."""
    [table] = [t for t in cloud.client("dynamodb").list_tables()["TableNames"] if "PredictionCache" in t]
    s3 = cloud.client("s3")
    resource = boto3.resource("dynamodb", endpoint_url=cloud.endpoint, region_name="us-east-1",
                              aws_access_key_id=cloud.operator.access_key, aws_secret_access_key=cloud.operator.secret_key).Table(table)
    return cache.published_prediction(s3, resource, buckets(cloud), customer_id)


def snapshot(cloud) -> dict:
    """Everything a reader sees: the pointer, every published view's rows, and `/predict`."""
    views = {view: cloud.query(f"SELECT count(*) FROM {view}")[0][0] for view in PUBLISHED_VIEWS}
    runs = {view: cloud.query(f"SELECT DISTINCT run_id FROM {view}") for view in
            ("engagement_analytics.final_results", "engagement_qa.human_review", "engagement_predictions.predictions")}
    return {"pointer": pointer(cloud), "views": views, "runs": runs, "predict": predict(cloud)}


def notifications(cloud) -> list[dict]:
    """Notifications since the last call (received messages are deleted, or they would reappear)."""
    sqs = cloud.client("sqs")
    messages = sqs.receive_message(QueueUrl=cloud.notifications, MaxNumberOfMessages=10,
                                   WaitTimeSeconds=1).get("Messages", [])
    for message in messages:
        sqs.delete_message(QueueUrl=cloud.notifications, ReceiptHandle=message["ReceiptHandle"])
    return [json.loads(json.loads(m["Body"])["Message"]) for m in messages]


def lock(cloud) -> dict | None:
    [table] = [t for t in cloud.client("dynamodb").list_tables()["TableNames"] if "RunLedger" in t]
    return cloud.client("dynamodb").get_item(TableName=table, Key={"record_id": {"S": "lock"}}).get("Item")


def assert_first_run_still_served(cloud) -> None:
    assert snapshot(cloud) == cloud.served
    assert lock(cloud) is None, "every terminal path releases the run lock"


def zipped(folder: Path, extra: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in folder.rglob("*"):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
        for name, text in (extra or {}).items():
            archive.writestr(name, text)
    return buffer.getvalue()


def wrap_function(cloud, tmp_path, function_name: str, body: str):
    """Deploy, through the Lambda API, a handler `body` (Python, defining `handler`) that can call
    the function's real one as `real`; returns a callable that deploys the original back."""
    lam = cloud.client("lambda")
    configuration = lam.get_function_configuration(FunctionName=function_name)
    code = functions.deployed(configuration["FunctionArn"], tmp_path / "unpacked").code
    real_module = configuration["Handler"].rsplit(".", 1)[0]
    lam.update_function_code(FunctionName=function_name, ZipFile=zipped(code, {
        "injected.py": f"from {real_module} import handler as real\n\n{body}\n"}))
    lam.update_function_configuration(FunctionName=function_name, Handler="injected.handler")

    def restore():
        lam.update_function_code(FunctionName=function_name, ZipFile=zipped(code))
        lam.update_function_configuration(FunctionName=function_name, Handler=configuration["Handler"])

    return restore


def set_environment(cloud, function_name: str, **variables: str) -> None:
    lam = cloud.client("lambda")
    current = lam.get_function_configuration(FunctionName=function_name)["Environment"]["Variables"]
    lam.update_function_configuration(FunctionName=function_name, Environment={"Variables": {**current, **variables}})


def stage_function(cloud, prefix: str) -> str:
    names = [f["FunctionName"] for page in cloud.client("lambda").get_paginator("list_functions").paginate()
             for f in page["Functions"]]
    return next(name for name in names if name.startswith(f"EngagementPipeline-{prefix}"))


def revise_training_task(cloud, change) -> callable:
    """Register a revision of the training task definition with `change(container)` applied (the
    state machine runs the family's latest); returns a callable that registers the original again."""
    ecs = cloud.client("ecs")
    families = {arn.split("/")[-1].rsplit(":", 1)[0] for page in ecs.get_paginator("list_task_definitions").paginate()
                for arn in page["taskDefinitionArns"]}
    latest = (ecs.describe_task_definition(taskDefinition=family)["taskDefinition"] for family in families)
    [original] = [d for d in latest if d["containerDefinitions"][0].get("command") == ["train"]]

    def register(definition):
        ecs.register_task_definition(family=definition["family"], memory=definition.get("memory", "512"),
                                     containerDefinitions=definition["containerDefinitions"],
                                     **{key: definition[key] for key in ("taskRoleArn", "executionRoleArn")
                                        if definition.get(key)})

    revised = json.loads(json.dumps(original))
    change(revised["containerDefinitions"][0])
    register(revised)
    return lambda: register(original)


def test_execution_succeeds_and_publishes(cloud):
    assert cloud.first["status"] == "SUCCEEDED", cloud.first.get("cause")
    run_id = run_id_from_execution(FIRST)
    assert pointer(cloud)["run_id"] == run_id
    assert cloud.served["predict"]["run_id"] == run_id
    assert all(runs == [(run_id,)] for runs in cloud.served["runs"].values())
    assert [n["status"] for n in notifications(cloud)] == ["SUCCEEDED"]
    assert lock(cloud) is None


def test_ingest_reads_the_pii_key_from_secrets_manager_as_on_aws(cloud):
    """One product path: the local cloud creates the secret; the function gets its ARN, no key file."""
    environment = cloud.client("lambda").get_function_configuration(
        FunctionName=stage_function(cloud, "IngestFunction"))["Environment"]["Variables"]
    assert "TOKENIZATION_KEY_FILE" not in environment
    secret = cloud.client("secretsmanager").get_secret_value(SecretId=environment["TOKENIZATION_SECRET_ARN"])
    assert len(secret["SecretString"]) == 64


def test_the_summary_reports_counts_per_state(cloud):
    progress = Progress()
    for event in cloud.first["events"]:
        progress.event(event)

    def count_rows(table: str) -> int:
        return cloud.query(f"SELECT count(*) FROM {table}")[0][0]

    def rows(state: str) -> int:
        return int(progress.counts(state, count_rows).split(" rows in ")[0].replace(",", ""))

    assert progress.counts("MergeIngest", count_rows) == \
        f"rows_in {ROWS:,}, rows_accepted {ROWS:,}, rows_quarantined 0, files 1"
    assert rows("PrepareTrainingData") + rows("PrepareTestData") == ROWS
    assert rows("PrepareTrainingData") > 3 * rows("PrepareTestData")
    assert rows("CreateResultsTable") == ROWS
    assert progress.counts("CheckCacheLoad", count_rows) == f"items_written {ROWS:,}, shards 3"
    assert progress.counts("MergeInference", count_rows) == f"rows_scored {ROWS:,}, shards 3"
    assert 300 <= rows("CreateQaTable") <= 450


def test_inference_and_the_cache_fan_out_over_the_shards_in_distributed_maps(cloud):
    output = json.loads(cloud.first["output"])
    assert output["shards"] == {"shards": 3, "rows": ROWS,
                                "manifest": f"s3://{buckets(cloud).processed}/runs/{run_id_from_execution(FIRST)}/shards.json"}
    assert output["inference"]["shards"] == output["outputs"]["cache"]["shards"] == 3
    assert [r["shard"] for r in output["shard_results"]] == ["00000", "00001", "00002"]
    sfn = cloud.client("stepfunctions")
    map_runs = [e["mapRunStartedEventDetails"]["mapRunArn"] for e in cloud.first["events"] if e["type"] == "MapRunStarted"]
    machine = cloud.deployment.state_machine_arn.split(":")[-1]
    assert [arn.split(":")[-2] for arn in map_runs] == [f"{machine}/{label}" for label in (
        "IngestFiles", "ValidateFiles", "ScoreShards", "LoadCacheShards")]  # arn:…:mapRun:<machine>/<label>:<id>
    for arn, items in zip(map_runs, (1, 1, 3, 3), strict=True):  # DescribeMapRun, in the shape AWS records (../shared/aws-recorded)
        run = sfn.describe_map_run(mapRunArn=arn)
        assert run["status"] == "SUCCEEDED" and run["itemCounts"]["succeeded"] == run["itemCounts"]["total"] == items
        assert run["executionArn"] == cloud.first["executionArn"] and run["maxConcurrency"] >= 1
    listed = cloud.client("s3").list_objects_v2(Bucket=buckets(cloud).predictions,
                                                Prefix=f"predictions/run_id={run_id_from_execution(FIRST)}/")
    assert sorted(o["Key"].rsplit("/", 1)[-1] for o in listed["Contents"]) == [
        "shard-00000.parquet", "shard-00001.parquet", "shard-00002.parquet"]


def test_one_prediction_per_customer_and_no_pii(cloud):
    assert cloud.query("SELECT count(*), count(DISTINCT customer_id) FROM engagement_predictions.predictions") == \
        [(ROWS, ROWS)]
    columns = {row[0] for row in cloud.query("DESCRIBE engagement_analytics.final_results")}
    assert not columns & {*PII_COLUMNS, "age", *(f"{c}_token" for c in PII_COLUMNS)}
    emails = {row[0] for row in cloud.query("SELECT email FROM engagement_raw.customers LIMIT 50")}
    found = cloud.query("SELECT count(*) FROM engagement_analytics.final_results WHERE "
                  + " OR ".join(f"customer_id = '{e}' OR segment_name = '{e}'" for e in emails))
    assert found == [(0,)]


def test_qa_table_and_views(cloud):
    assert 300 <= cloud.query("SELECT count(*) FROM engagement_qa.human_review")[0][0] <= 450
    reasons = {row[0] for row in cloud.query("SELECT DISTINCT qa_reason FROM engagement_qa.human_review")}
    assert reasons == {"top_prediction", "bottom_prediction", "large_error", "random_baseline"}
    for view in PUBLISHED_VIEWS:
        assert cloud.served["views"][view] > 0, view


def test_the_glue_catalog_holds_the_declared_tables_the_run_tables_and_the_views(cloud):
    glue = cloud.client("glue")
    run_id = run_id_from_execution(FIRST)
    tables = {(t["DatabaseName"], t["Name"]): t for database in ("engagement_raw", "engagement_qa",
                                                                  "engagement_analytics", "engagement_predictions")
              for t in glue.get_tables(DatabaseName=database)["TableList"]}
    assert tables[("engagement_raw", "customers_bronze")]["PartitionKeys"][0]["Name"] == "run_id"
    assert tables[("engagement_raw", f"training_{run_id}")]["StorageDescriptor"]["Location"].startswith("s3://")
    view = tables[("engagement_analytics", "final_results")]
    assert view["TableType"] == "VIRTUAL_VIEW" and "published_run" in view["ViewOriginalText"]
    for database, table in (("engagement_analytics", "final_results_by_run"), ("engagement_qa", "human_review_by_run"),
                            ("engagement_predictions", "predictions_by_run")):
        partitions = glue.get_partitions(DatabaseName=database, TableName=table)["Partitions"]
        assert [p["Values"] for p in partitions] == [[run_id]], table


def test_cache_holds_every_customer_with_a_ttl(cloud):
    dynamodb = cloud.client("dynamodb")
    [table] = [t for t in dynamodb.list_tables()["TableNames"] if "PredictionCache" in t]
    items, start = [], None
    while True:
        page = dynamodb.scan(TableName=table, **({"ExclusiveStartKey": start} if start else {}))
        items += page["Items"]
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    first = [item for item in items if item["run_id"]["S"] == run_id_from_execution(FIRST)]
    assert len({item["customer_id"]["S"] for item in first}) == ROWS
    assert all(int(item["expires_at"]["N"]) > time.time() + 20 * 86_400 for item in first)
    served = cloud.served["predict"]
    [(churn, segment)] = cloud.query("SELECT churn_probability, segment_name FROM engagement_predictions.predictions "
                               f"WHERE customer_id = '{served['customer_id']}'")
    assert served["churn_probability"] == pytest.approx(churn, abs=1e-6) and served["segment_name"] == segment


def test_a_corrupt_upload_fails_the_run_and_keeps_the_published_results(cloud, tmp_path):
    lines = (cloud.state_dir / "small" / "customers.csv").read_bytes().split(b"\n")
    corrupt = b"\n".join([lines[0]] + [line[:30] if i % 4 == 0 else line for i, line in enumerate(lines[1:])])
    (tmp_path / "corrupt.csv").write_bytes(corrupt)
    upload(cloud, tmp_path / "corrupt.csv", "customers/corrupt.csv")
    result = cloud.run("corrupt-upload", {"source_key": "customers/corrupt.csv"}, timeout_s=300)
    assert result["status"] == "FAILED" and result["error"] == "EngagementPipelineFailed"
    [failure] = notifications(cloud)
    assert failure["status"] == "FAILED" and failure["error"] == "StageFailed"
    assert "of rows were quarantined" in failure["cause"]
    assert_first_run_still_served(cloud)


def test_a_failing_container_fails_the_run(cloud):
    restore = revise_training_task(cloud, lambda container: container.update(command=["not-a-command"]))
    try:
        result = cloud.run("broken-container", {"source_key": "customers/small.csv"}, timeout_s=300)
    finally:
        restore()
    assert result["status"] == "FAILED"
    assert [n["status"] for n in notifications(cloud)] == ["FAILED"]
    assert_first_run_still_served(cloud)


def test_a_failed_quality_gate_publishes_nothing(cloud):
    restore = revise_training_task(cloud, lambda container: container["environment"].append(
        {"name": "QUALITY_MIN_ENGAGEMENT_R2", "value": "0.999"}))
    try:
        result = cloud.run("strict-gate", {"source_key": "customers/small.csv"}, timeout_s=300)
    finally:
        restore()
    assert result["status"] == "FAILED" and result["error"] == "QualityGateFailed"
    received = notifications(cloud)
    assert len(received) == 1, received
    [notice] = received
    assert notice["status"] == "QUALITY_GATE_FAILED"
    assert any(c["name"] == "engagement_r2" and not c["passed"] for c in notice["checks"])
    assert_first_run_still_served(cloud)


def test_a_failed_shard_fails_the_run_naming_it_after_the_others_were_staged_and_publishes_nothing(cloud, tmp_path):
    """One CacheLoad shard fails after staging its items (the other succeeds): the run fails, the
    notification names the shard, and readers keep the first run."""
    restore = wrap_function(cloud, tmp_path, stage_function(cloud, "CacheLoad"), (
        "def handler(event, context):\n"
        "    staged = real(event, context)\n"
        "    if event['shard'] == '00001':\n"
        "        raise RuntimeError(f\"injected after staging {staged['items_written']} cache items\")\n"
        "    return staged"))
    try:
        result = cloud.run("fails-in-build-outputs", {"source_key": "customers/small.csv"}, timeout_s=300)
    finally:
        restore()
    assert result["status"] == "FAILED"
    [failure] = notifications(cloud)
    assert failure["error"] == "ShardsFailed", failure
    assert "CacheLoad: 1 of 2 shards failed; nothing was published. shard 00001: RuntimeError" in failure["cause"]
    assert f"injected after staging {FAILING_ROWS - SHARD_ROWS} cache items" in failure["cause"]
    staged = run_id_from_execution("fails-in-build-outputs")
    [table] = [t for t in cloud.client("dynamodb").list_tables()["TableNames"] if "PredictionCache" in t]
    item = cloud.client("dynamodb").get_item(TableName=table, Key={"customer_id": {"S": "CUST-00000001"},
                                                                    "run_id": {"S": staged}})
    assert "Item" in item, "the failed run's cache was staged (and is not served)"
    assert_first_run_still_served(cloud)


def test_a_failure_after_build_outputs_and_a_concurrent_start_change_nothing_served(cloud, tmp_path):
    """PublishLatest fails after every output is staged, partitions registered and views made.
    Meanwhile another execution starts and is refused by the run lock, without releasing it."""
    restore = wrap_function(cloud, tmp_path, stage_function(cloud, "PublishFunction"), (
        "def handler(event, context):\n"
        "    raise RuntimeError('injected: PublishLatest failed before writing the pointer')"))
    refused = {}

    def start_another_while_locked():
        deadline = time.monotonic() + 120
        while lock(cloud) is None and time.monotonic() < deadline:
            time.sleep(0.2)
        refused.update(cloud.run("concurrent-manual", {"source_key": "customers/small.csv"}, timeout_s=120))

    other = threading.Thread(target=start_another_while_locked)
    try:
        other.start()
        result = cloud.run("fails-at-publish", {"source_key": "customers/small.csv"}, timeout_s=300)
        other.join(timeout=180)
    finally:
        restore()
    assert result["status"] == "FAILED"
    assert refused["status"] == "FAILED"
    claim_failure = [e for e in refused["events"] if e["type"] == "TaskFailed"][0]["taskFailedEventDetails"]
    assert claim_failure["error"] == "RunLocked" and "fails-at-publish" in claim_failure["cause"]
    causes = sorted(n["cause"] for n in notifications(cloud))
    assert any("injected: PublishLatest failed" in cause for cause in causes), causes
    staged = run_id_from_execution("fails-at-publish")
    glue = cloud.client("glue")
    partitions = glue.get_partitions(DatabaseName="engagement_analytics", TableName="final_results_by_run")["Partitions"]
    assert [staged] in [p["Values"] for p in partitions], "the failed run's outputs were registered (not served)"
    assert_first_run_still_served(cloud)


def revise_role_policies(cloud, role_part: str, change) -> callable:
    """Apply `change(document)` to each inline policy of the deployed role whose name holds
    `role_part`; returns a callable that puts the originals back."""
    iam = cloud.client("iam")
    [role] = [r["RoleName"] for page in iam.get_paginator("list_roles").paginate() for r in page["Roles"]
              if role_part in r["RoleName"]]
    originals = {name: iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
                 for name in iam.list_role_policies(RoleName=role)["PolicyNames"]}
    for name, document in originals.items():
        iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(change(json.loads(json.dumps(document)))))
    return lambda: [iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(document))
                    for name, document in originals.items()]


def run_with_revised_machine_role(cloud, change, name: str) -> dict:
    """A run of the small upload with the state machine's role policies changed, then put back."""
    restore = revise_role_policies(cloud, "PipelineStateMachineRole", change)
    try:
        return cloud.run(name, {"source_key": "customers/small.csv"}, timeout_s=300)
    finally:
        restore()


def without_bronze_listing(document: dict) -> dict:
    for statement in document["Statement"]:
        prefixes = statement.get("Condition", {}).get("StringLike", {}).get("s3:prefix")
        if statement["Action"] == "s3:ListBucket" and prefixes:
            statement["Condition"]["StringLike"]["s3:prefix"] = [p for p in prefixes if not p.startswith("bronze/")]
    return document


def test_a_role_missing_one_grant_fails_the_run_where_aws_would_and_publishes_nothing(cloud):
    """IAM is enforced: without the state machine's list of the bronze location, Athena, which runs
    the preparation as that role and lists the table's partition folder, is refused as on AWS."""
    result = run_with_revised_machine_role(cloud, without_bronze_listing, "no-bronze-listing")
    assert result["status"] == "FAILED"
    entered, failed = None, None
    for event in result["events"]:
        entered = event.get("stateEnteredEventDetails", {}).get("name", entered)
        if event["type"] == "TaskFailed" and failed is None:
            failed = (entered, event["taskFailedEventDetails"])
    state, details = failed
    assert state.startswith("Prepare") and details["error"] == "Athena.AthenaException", failed
    assert "assumed-role/EngagementPipeline-PipelineStateMachineRole" in details["cause"]
    assert "not authorized to perform: s3:ListBucket" in details["cause"]
    cloud.iam.flush()
    denials = [json.loads(line) for line in (cloud.log_dir / "iam.jsonl").read_text().splitlines() if '"deny"' in line]
    assert any(d["action"] == "s3:ListBucket" and d["context"].get("s3:prefix", "").startswith("bronze/customers/")
               for d in denials), denials[-3:]
    [failure] = notifications(cloud)
    assert failure["status"] == "FAILED"
    assert_first_run_still_served(cloud)


def without_manifest_reads(document: dict) -> dict:
    for statement in document["Statement"]:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        kept = [r for r in resources if not (isinstance(r, str) and r.endswith("/shards.json"))]
        statement["Resource"] = kept or ["arn:aws:s3:::nothing-at-all/none"]
    return document


def test_a_distributed_map_reads_its_items_as_the_state_machines_role(cloud):
    """Without the role's read of the shard manifest, ScoreShards' ItemReader is refused as on AWS
    (States.ItemReaderFailed), and nothing is published."""
    result = run_with_revised_machine_role(cloud, without_manifest_reads, "no-manifest-read")
    assert result["status"] == "FAILED"
    [failed] = [e["mapRunFailedEventDetails"] for e in result["events"] if e["type"] == "MapRunFailed"]
    assert failed["error"] == "States.ItemReaderFailed" and "AccessDenied" in failed["cause"], failed
    assert "EngagementPipeline-PipelineStateMachineRole" in failed["cause"]
    [failure] = notifications(cloud)
    assert failure["status"] == "FAILED" and failure["error"] == "States.ItemReaderFailed"
    assert_first_run_still_served(cloud)


def test_limits_fail_locally_as_on_aws(cloud, tmp_path):
    """A Lambda that outgrows its memory or outlives its timeout fails with the error AWS reports;
    one that fits logs its peak memory as Lambda's REPORT line does."""
    (tmp_path / "limits.py").write_text(
        "import time\n"
        "def hungry(event, context):\n"
        "    blocks = [bytearray(32 * 2**20) for _ in range(12)]\n"
        "    time.sleep(5)\n"
        "def slow(event, context):\n"
        "    time.sleep(10)\n"
        "def fits(event, context):\n"
        "    block = b\"x\" * (96 * 2**20)\n"
        "    time.sleep(0.5)\n")
    sfn, lam = cloud.client("stepfunctions"), cloud.client("lambda")
    code = zipped(tmp_path)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "lambda.amazonaws.com"}}]}
    role = cloud.client("iam").create_role(RoleName="limits", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    # The state machines' role: Step Functions may assume it, and it may invoke the functions.
    machine_trust = {**trust, "Statement": [{**trust["Statement"][0], "Principal": {"Service": "states.amazonaws.com"}}]}
    machine_role = cloud.client("iam").create_role(RoleName="limits-machine",
                                                   AssumeRolePolicyDocument=json.dumps(machine_trust))["Role"]["Arn"]
    cloud.client("iam").put_role_policy(RoleName="limits-machine", PolicyName="invoke", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunction",
                                                "Resource": "arn:aws:lambda:us-east-1:000000000000:function:*"}]}))
    for name, handler, error in (("Hungry", "limits.hungry", "Runtime.OutOfMemory"),
                                 ("Slow", "limits.slow", "Sandbox.Timedout"), ("Fits", "limits.fits", None)):
        arn = lam.create_function(FunctionName=name, Runtime="python3.11", Handler=handler, Code={"ZipFile": code},
                                  Role=role, MemorySize=256,
                                  Timeout=1 if name == "Slow" else 30)["FunctionArn"]
        machine = sfn.create_state_machine(name=f"limits-{name}", roleArn=machine_role,
                                           definition=json.dumps({"StartAt": "Call", "States": {"Call": {
                                               "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                                               "Parameters": {"FunctionName": arn}, "End": True}}}))
        execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"])["executionArn"]
        deadline = time.monotonic() + 60
        while (status := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        if error:
            assert status["status"] == "FAILED" and status["error"] == error, status
    assert status["status"] == "SUCCEEDED", status
    [report] = [line for line in (cloud.log_dir / "Fits.log").read_text().splitlines()
                if line.startswith("REPORT ")]
    assert "Memory Size: 256 MB" in report and 96 <= int(report.split("Max Memory Used: ")[1].split()[0]) < 256


def test_generated_parquet_has_no_pii_in_predictions(cloud):
    s3 = cloud.client("s3")
    run_id = run_id_from_execution(FIRST)
    for shard in ("00000", "00001", "00002"):
        body = s3.get_object(Bucket=buckets(cloud).predictions,
                             Key=f"predictions/run_id={run_id}/shard-{shard}.parquet")["Body"].read()
        assert not set(pq.read_schema(io.BytesIO(body)).names) & set(PII_COLUMNS)


def test_athena_api_answers_plain_boto3_with_athena_pages(cloud):
    athena = cloud.client("athena")

    def finished(sql: str, **context) -> dict:
        execution_id = athena.start_query_execution(QueryString=sql, **context)["QueryExecutionId"]
        return settled(athena, execution_id)

    execution = finished("SELECT customer_id, churn_probability FROM predictions ORDER BY customer_id LIMIT 2500",
                         QueryExecutionContext={"Database": "engagement_predictions"})
    assert execution["Status"]["State"] == "SUCCEEDED"
    pages = list(athena.get_paginator("get_query_results").paginate(
        QueryExecutionId=execution["QueryExecutionId"], PaginationConfig={"PageSize": 1000}))
    rows = [[datum.get("VarCharValue") for datum in row["Data"]] for page in pages for row in page["ResultSet"]["Rows"]]
    assert len(pages) == 3 and len(rows) == 2501 and rows[0] == ["customer_id", "churn_probability"]
    assert rows[1][0] == "CUST-00000001" and 0 <= float(rows[1][1]) <= 1
    assert [(c["Name"], c["Type"]) for c in pages[0]["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]] == \
        [("customer_id", "string"), ("churn_probability", "double")]
    failed = finished("SELECT count(*) FROM engagement_predictions.no_such_table")
    assert failed["Status"]["State"] == "FAILED" and "no_such_table" in failed["Status"]["StateChangeReason"]
    with pytest.raises(athena.exceptions.InvalidRequestException, match="FAILED"):
        athena.get_query_results(QueryExecutionId=failed["QueryExecutionId"])


def settled(athena, execution_id: str, seconds: float = 30) -> dict:
    """The execution once it has left QUEUED and RUNNING, polled as a client polls Athena."""
    deadline = time.monotonic() + seconds
    while (execution := athena.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"])["Status"][
            "State"] in ("QUEUED", "RUNNING") and time.monotonic() < deadline:
        time.sleep(0.05)
    return execution


def test_athena_queries_run_side_by_side_and_stop_when_asked(cloud):
    """StartQueryExecution answers at once; a slow query blocks no other and StopQueryExecution
    ends it (CANCELLED), as on Athena."""
    athena = cloud.client("athena")
    slow = athena.start_query_execution(QueryString=(
        "SELECT count(*) FROM engagement_analytics.customer_features a JOIN engagement_analytics.customer_features b "
        "ON a.avg_daily_logins <> b.avg_daily_logins JOIN engagement_analytics.customer_features c "
        "ON b.total_connections <> c.total_connections"))["QueryExecutionId"]
    fast = athena.start_query_execution(QueryString="SELECT count(*) FROM engagement_analytics.final_results")
    assert settled(athena, fast["QueryExecutionId"])["Status"]["State"] == "SUCCEEDED"
    assert athena.get_query_execution(QueryExecutionId=slow)["QueryExecution"]["Status"]["State"] == "RUNNING"
    athena.stop_query_execution(QueryExecutionId=slow)
    assert settled(athena, slow)["Status"]["State"] == "CANCELLED"
    with pytest.raises(athena.exceptions.InvalidRequestException):
        athena.get_query_results(QueryExecutionId=slow)


def test_lambda_invoke_from_plain_boto3_runs_the_function(cloud, tmp_path):
    (tmp_path / "echo.py").write_text("def handler(event, context):\n"
                                      "    if event.get('fail'):\n"
                                      "        raise KeyError(event['fail'])\n"
                                      "    return {'echo': event, 'function': context.function_name}\n")
    lam = cloud.client("lambda")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "lambda.amazonaws.com"}}]}
    role = cloud.client("iam").create_role(RoleName="echo", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    lam.create_function(FunctionName="Echo", Runtime="python3.11", Handler="echo.handler",
                        Code={"ZipFile": zipped(tmp_path)}, Role=role, MemorySize=128, Timeout=10)
    answer = lam.invoke(FunctionName="Echo", Payload=json.dumps({"n": 1}))
    assert "FunctionError" not in answer and json.loads(answer["Payload"].read()) == {"echo": {"n": 1},
                                                                                     "function": "Echo"}
    failed = lam.invoke(FunctionName="Echo", Payload=json.dumps({"fail": "missing"}))
    assert failed["FunctionError"] == "Unhandled"
    assert json.loads(failed["Payload"].read())["errorType"] == "KeyError"
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke(FunctionName="NoSuchFunction", Payload=b"{}")


def test_predict_is_served_from_the_published_run_through_the_deployed_api(cloud):
    """The AI stack's API as CloudFormation created it: IAM-signed, the body checked against the
    model before the function runs, the answer read from the published run's cache."""
    [url] = [url for name, url in cloud.apis.urls().items() if name.endswith("/v1")]
    status, answer = rest_apis.call(f"{url}/predict", "POST", {"customer_id": "CUST-00000001"}, signed=cloud.operator.credentials)
    assert status == 200 and answer["run_id"] == pointer(cloud)["run_id"] and answer == predict(cloud)
    assert [len(answer["reasons"][model]) for model in ("engagement", "churn")] == [5, 5]
    assert 0 <= answer["churn_probability"] <= 1 and answer["segment_name"] and answer["model_version"]
    assert not set(PII_COLUMNS) & set(answer)
    unsigned = rest_apis.call(f"{url}/predict", "POST", {"customer_id": "CUST-00000001"})
    assert unsigned == (403, {"message": "Missing Authentication Token"})
    for bad in ({"customer_id": "CUST 1; DROP TABLE"}, {"customer": "CUST-00000001"}, {"customer_id": 7}):
        assert rest_apis.call(f"{url}/predict", "POST", bad, signed=cloud.operator.credentials) == (400, {"message": "Invalid request body"})
    missing = rest_apis.call(f"{url}/predict", "POST", {"customer_id": "CUST-99999999"}, signed=cloud.operator.credentials)
    assert missing == (404, {"message": "customer_id 'CUST-99999999' is not in the published run"})


def test_ask_answers_from_the_published_views_through_the_deployed_api(cloud):
    """The assistant Lambda as deployed, its Converse calls answered by the local planner, its
    query run through the Athena API as its own role; the answer's numbers are the view's."""
    [url] = [url for name, url in cloud.apis.urls().items() if name.endswith("/v1")]
    question = {"question": "Do mobile users engage more than desktop users?"}
    status, reply = rest_apis.call(f"{url}/ask", "POST", question, signed=cloud.operator.credentials)
    assert status == 200 and reply["complete"], reply
    [tool_call] = reply["tool_calls"]
    assert tool_call["tool"] == "query_athena" and reply["sources"] == [tool_call["output"]["source"]]
    expected = cloud.query("SELECT device_type, count(*) FROM engagement_analytics.final_results "
                           "WHERE device_type IN ('mobile', 'desktop') GROUP BY 1")
    for device, customers in expected:  # the two groups the question compares, and no other
        assert f"- {device}: " in reply["answer"] and f"{customers:,} customers" in reply["answer"]
    assert "- tablet: " not in reply["answer"]
    status, reply = rest_apis.call(f"{url}/ask", "POST", {"question": "Explain the predictions for CUST-00000001"},
                                   signed=cloud.operator.credentials)
    assert status == 200 and reply["tool_calls"][0]["tool"] == "explain_prediction"
    assert "Top reasons (churn)" in reply["answer"]
    assert rest_apis.call(f"{url}/ask", "POST", {"question": ""}, signed=cloud.operator.credentials) == (
        400, {"message": "Invalid request body"})


def test_the_seed_questions_are_answered_with_the_published_runs_numbers(cloud):
    """All 40 seed questions through the deployed /ask (local Converse -> tools -> answer); each
    answer's key numbers checked against polars on the published run's own files."""
    [url] = [url for name, url in cloud.apis.urls().items() if name.endswith("/v1")]
    data = seed_answers.read_published(cloud.client("s3"), buckets(cloud), pointer(cloud)["run_id"])
    failures = []
    for question, check in zip(seed_answers.QUESTIONS, seed_answers.CHECKS, strict=True):
        status, reply = rest_apis.call(f"{url}/ask", "POST", {"question": question}, signed=cloud.operator.credentials)
        try:
            assert status == 200 and reply["complete"] and reply["tool_calls"], reply
            assert not [c for c in reply["tool_calls"] if "error" in (c["output"] or {})], reply["tool_calls"]
            assert "{" not in reply["answer"], "a template left unfilled"
            check(reply["answer"], data)
        except (AssertionError, StopIteration, KeyError) as error:
            failures.append(f"{question}\n  {error!r}\n  {reply.get('answer')}")
    assert not failures, f"{len(failures)} of 40 wrong:\n" + "\n".join(failures)


def test_rest_api_routes_are_served_as_api_gateway_serves_them(cloud):
    """A test-only CDK API (Lambda proxy; one IAM-authorized route, one open) deployed through
    CloudFormation and called over HTTP: routing, path parameters, SigV4 auth, errors, permissions."""
    cloud.client("cloudformation").create_stack(StackName="TestOnlyApi", TemplateBody=json.dumps(only_api_template()),
                                                Capabilities=["CAPABILITY_IAM"])
    [url] = [url for name, url in cloud.apis.urls().items() if name == "TestOnlyApi/prod"]
    status, answer = rest_apis.call(f"{url}/items/42?verbose=1")
    assert status == 200 and answer["resource"] == "/items/{id}" and answer["pathParameters"] == {"id": "42"}
    assert answer["query"] == {"verbose": "1"} and answer["stage"] == "prod"
    assert rest_apis.call(f"{url}/echo", "POST", {"n": 1}) == (403, {"message": "Missing Authentication Token"})
    status, answer = rest_apis.call(f"{url}/echo", "POST", {"n": 1}, signed=cloud.operator.credentials)
    assert status == 200 and answer["body"] == {"n": 1} and answer["accessKey"] == cloud.operator.access_key
    assert rest_apis.call(f"{url}/nowhere")[0] == 403 and rest_apis.call(f"{url}/items/42", "DELETE")[0] == 403
    failed = rest_apis.call(f"{url}/echo", "POST", {"fail": True}, signed=cloud.operator.credentials)
    assert failed == (502, {"message": "Internal server error"})
    lam = cloud.client("lambda")
    [function] = [f["FunctionName"] for f in lam.list_functions()["Functions"] if f["FunctionName"].startswith("TestOnlyApi-")]
    for statement in json.loads(lam.get_policy(FunctionName=function)["Policy"])["Statement"]:
        if "/GET/items/" in statement["Condition"]["ArnLike"]["AWS:SourceArn"]:
            lam.remove_permission(FunctionName=function, StatementId=statement["Sid"])
    assert rest_apis.call(f"{url}/items/42") == (500, {"message": "Internal server error"})
    api_log = (cloud.log_dir / f"apigateway-{url.split('/')[-2]}.log").read_text()
    assert "Invalid permissions on Lambda function" in api_log and "Lambda function failed" in api_log


def only_api_template() -> dict:
    """A stack of one REST API over an echo function (not a test: the API tests deploy it)."""
    import aws_cdk as cdk
    from aws_cdk import aws_apigateway as apigateway
    from aws_cdk import aws_lambda as lambda_

    app = cdk.App()
    stack = cdk.Stack(app, "TestOnlyApi", synthesizer=cdk.BootstraplessSynthesizer())
    handler = lambda_.Function(stack, "Echo", runtime=lambda_.Runtime.PYTHON_3_12, handler="index.handler",
                               code=lambda_.Code.from_inline(
                                   "import json\n"
                                   "def handler(event, context):\n"
                                   "    body = json.loads(event['body'] or 'null')\n"
                                   "    if isinstance(body, dict) and body.get('fail'):\n"
                                   "        raise ValueError('asked to fail')\n"
                                   "    context_ = event['requestContext']\n"
                                   "    return {'statusCode': 200, 'body': json.dumps({\n"
                                   "        'resource': event['resource'], 'pathParameters': event['pathParameters'],\n"
                                   "        'query': event['queryStringParameters'], 'stage': context_['stage'],\n"
                                   "        'accessKey': context_['identity']['accessKey'], 'body': body})}\n"))
    api = apigateway.LambdaRestApi(stack, "Api", rest_api_name="TestOnlyApi", handler=handler, proxy=False,
                                   cloud_watch_role=False, default_method_options=apigateway.MethodOptions(
                                       authorization_type=apigateway.AuthorizationType.IAM))
    api.root.add_resource("echo").add_method("POST")
    api.root.add_resource("items").add_resource("{id}").add_method(
        "GET", authorization_type=apigateway.AuthorizationType.NONE)
    return app.synth().get_stack_by_name("TestOnlyApi").template


def test_erasing_a_customer_leaves_nothing_of_them_anywhere(cloud):
    """Last in the module: it changes what the first run published (as erasure must). Buckets are
    versioned, as the templates version them; afterwards every version of every object, every
    DynamoDB item, the knowledge base and every local file is searched for the customer's id,
    name and e-mail, and /predict and /ask know nothing of them."""
    from engagement.erasure import Stores, erase_customer
    from engagement.knowledge_base import Index

    victim = "CUST-00000042"
    person = pl.read_parquet(cloud.state_dir / "data" / "customers.parquet").filter(pl.col(ID_COLUMN) == victim)
    traces = [victim, *(str(person[column][0]) for column in ("full_name", "email"))]
    s3 = cloud.client("s3")
    assert s3.get_bucket_versioning(Bucket=buckets(cloud).raw)["Status"] == "Enabled"
    [url] = [url for name, url in cloud.apis.urls().items() if name.endswith("/v1")]
    explain = {"question": f"Explain the predictions for {victim}"}
    assert rest_apis.call(f"{url}/ask", "POST", explain, signed=cloud.operator.credentials)[1]["tool_calls"][0]["output"]["customer_id"] == victim
    assert rest_apis.call(f"{url}/ask", "POST", explain, signed=cloud.operator.credentials)[1]["cached"] is True
    outputs = {o["OutputKey"]: o["OutputValue"]
               for o in cloud.client("cloudformation").describe_stacks(StackName="EngagementAi")["Stacks"][0]["Outputs"]}
    resource = boto3.resource("dynamodb", endpoint_url=cloud.endpoint, region_name="us-east-1",
                              aws_access_key_id=cloud.operator.access_key, aws_secret_access_key=cloud.operator.secret_key)
    tables = cloud.client("dynamodb").list_tables()["TableNames"]
    stores = Stores(s3, buckets(cloud), *(resource.Table(next(t for t in tables if part in t))
                                          for part in ("PredictionCache", "AnswerCache", "RunLedger")),
                    cloud.client("bedrock-agent"), Index(outputs["KnowledgeBaseId"], outputs["KnowledgeBaseDataSourceId"]))
    assert stores.answer_cache.table_name == outputs["AnswerCacheTableName"]
    copies = tuple(cloud.state_dir / folder / f"customers.{kind}" for folder in ("data", "small") for kind in ("csv", "parquet"))
    result = erase_customer(stores, victim, local_copies=copies)
    assert result["rows_removed"] > 0 and result["cache_items_deleted"] >= 1 and result["answers_deleted"] >= 1
    assert result["old_versions_deleted"] > 0 and all(result["local_copies"].values())
    found = [*_stored_objects_naming(s3, traces), *_items_naming(cloud, traces), *_files_naming(cloud.state_dir, traces)]
    assert not found, found
    assert predict(cloud, victim) is None
    assert rest_apis.call(f"{url}/predict", "POST", {"customer_id": victim}, signed=cloud.operator.credentials)[0] == 404
    status, reply = rest_apis.call(f"{url}/ask", "POST", explain, signed=cloud.operator.credentials)
    assert status == 200 and reply["cached"] is False and "is not in the published run" in reply["answer"]
    for view in ("engagement_analytics.final_results", "engagement_predictions.predictions",
                 "engagement_raw.customers", "engagement_raw.customers_bronze"):
        assert cloud.query(f"SELECT count(*) FROM {view} WHERE customer_id = '{victim}'") == [(0,)], view
    assert cloud.query("SELECT count(*) FROM engagement_analytics.final_results") == [(ROWS - 1,)]


def _names(text: str, traces: list[str]) -> list[str]:
    return [trace for trace in traces if trace in text]


def _stored_objects_naming(s3, traces: list[str]) -> list[str]:
    """Every version of every object in every bucket (Parquet read as its values)."""
    found = []
    for bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            for version in page.get("Versions", []):
                body = s3.get_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])["Body"].read()
                named = _names(_readable(body), traces)
                found += [f"s3://{bucket}/{version['Key']}?versionId={version['VersionId']}: {named}"] if named else []
    return found


def _readable(body: bytes) -> str:
    if body[:4] == b"PAR1":
        return json.dumps(pq.read_table(io.BytesIO(body)).to_pylist(), default=str)
    return body.decode("utf-8", "replace")


def _items_naming(cloud, traces: list[str]) -> list[str]:
    dynamodb, found = cloud.client("dynamodb"), []
    for table in dynamodb.list_tables()["TableNames"]:
        for page in dynamodb.get_paginator("scan").paginate(TableName=table):
            found += [f"{table}: {_names(json.dumps(item), traces)}" for item in page["Items"]
                      if _names(json.dumps(item), traces)]
    return found


def _files_naming(root: Path, traces: list[str]) -> list[str]:
    """Every local file the run left: the generated data, the Athena mirror, logs."""
    return [f"{path}: {named}" for path in root.rglob("*") if path.is_file() and path.suffix != ".duckdb"
            and (named := _names(_readable(path.read_bytes()), traces))]
