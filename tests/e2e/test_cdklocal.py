"""`cdklocal bootstrap` and `cdklocal deploy` against `python -m localcloud up --empty`: moto's
CloudFormation, completed by localcloud/cloudformation.py, creates every resource of the data
stack (none skipped), publishes its exports, and the APIs answer for what it created."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

REPO = Path(__file__).resolve().parents[2]
CDKLOCAL = REPO / "node_modules" / ".bin" / "cdklocal"


@pytest.fixture(scope="module")
def empty_cloud(tmp_path_factory):
    home = tmp_path_factory.mktemp("cloud")
    server = subprocess.Popen([sys.executable, "-m", "localcloud", "up", "--empty"], cwd=home,
                              env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    state = home / ".localcloud" / "server.json"
    deadline = time.monotonic() + 60
    while not state.is_file():
        assert server.poll() is None and time.monotonic() < deadline, server.stdout.read() if server.poll() else "slow"
        time.sleep(0.2)
    endpoint = json.loads(state.read_text())["endpoint"].replace("127.0.0.1", "localhost")
    yield endpoint
    server.terminate()
    server.wait(timeout=30)


@pytest.fixture(autouse=True)
def no_lookups_left_behind():
    """cdklocal caches its local account's availability zones in cdk.context.json: not ours to keep."""
    context = REPO / "cdk.context.json"
    before = context.read_bytes() if context.exists() else None
    yield
    if before is None:
        context.unlink(missing_ok=True)
    else:
        context.write_bytes(before)


def cdklocal(endpoint: str, out: Path, *args: str) -> str:
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_ENDPOINT_URL_S3": endpoint, "AWS_ACCESS_KEY_ID": "test",
           "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
           "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1"}
    result = subprocess.run([str(CDKLOCAL), *args, "--output", str(out), "--no-notices"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def test_cdklocal_deploys_the_data_stack_with_nothing_skipped(empty_cloud, tmp_path):
    cdklocal(empty_cloud, tmp_path / "out", "bootstrap")
    cdklocal(empty_cloud, tmp_path / "out", "deploy", "EngagementData", "-c", "terminationProtection=false",
             "--require-approval", "never")
    clients = {name: boto3.client(name, endpoint_url=empty_cloud, region_name="us-east-1",
                                  aws_access_key_id="test", aws_secret_access_key="test")
               for name in ("cloudformation", "glue", "athena", "secretsmanager", "s3")}
    template = json.loads((tmp_path / "out" / "EngagementData.template.json").read_text())
    declared = {logical_id: r["Type"] for logical_id, r in template["Resources"].items()
                if r["Type"] != "AWS::CDK::Metadata"}
    created = {r["LogicalResourceId"]: r["ResourceType"] for r in
               clients["cloudformation"].list_stack_resources(StackName="EngagementData")["StackResourceSummaries"]}
    assert {k: v for k, v in created.items() if k} == declared
    exports = {e["Name"]: e["Value"] for e in clients["cloudformation"].list_exports()["Exports"]}
    assert exports["EngagementData-WorkgroupName"] in [w["Name"] for w in
                                                       clients["athena"].list_work_groups()["WorkGroups"]]
    tables = [r["Properties"]["TableInput"]["Name"] for r in template["Resources"].values()
              if r["Type"] == "AWS::Glue::Table"]
    for table in tables:
        assert any(t["Name"] == table for database in clients["glue"].get_databases()["DatabaseList"]
                   for t in clients["glue"].get_tables(DatabaseName=database["Name"])["TableList"]), table
    assert clients["secretsmanager"].describe_secret(SecretId=exports["EngagementData-TokenizationSecretArn"])
    raw = exports["EngagementData-RawBucketName"]
    assert "SecureTransport" in clients["s3"].get_bucket_policy(Bucket=raw)["Policy"]
    clients["s3"].put_object(Bucket=raw, Key="customers/probe.csv", Body=b"customer_id\n")  # its policy admits TLS-like loopback
