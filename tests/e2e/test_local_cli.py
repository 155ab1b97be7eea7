"""`python -m localcloud up` keeps a deployed local cloud serving for plain AWS clients until `down`."""

import json
import subprocess
import sys
import time

import boto3

from localcloud.__main__ import main


def test_up_serves_the_deployed_app_to_aws_clients_until_down(local_assembly, tmp_path, monkeypatch):
    last_run_tables = tmp_path / ".localcloud" / "athena.duckdb"
    last_run_tables.parent.mkdir()
    last_run_tables.write_bytes(b"the last run's tables")
    server = subprocess.Popen([sys.executable, "-m", "localcloud", "up", "--assembly", str(local_assembly)],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    state = tmp_path / ".localcloud" / "server.json"
    deadline = time.monotonic() + 120
    while not state.is_file() and server.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert state.is_file(), server.stdout.read() if server.poll() is not None else "no server.json in 120 s"
    endpoint = json.loads(state.read_text())["endpoint"]

    def client(service: str):
        return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                            aws_access_key_id="local", aws_secret_access_key="local")

    machines = client("stepfunctions").list_state_machines()["stateMachines"]
    assert [m["name"].split("-")[:2] for m in machines] == [["EngagementPipeline", "PipelineStateMachine1814BD05"]]
    buckets = [b["Name"] for b in client("s3").list_buckets()["Buckets"]]
    assert len([b for b in buckets if b.startswith("engagementdata-")]) == 9  # and cdk bootstrap's staging bucket
    tables = client("glue").get_tables(DatabaseName="engagement_raw")["TableList"]
    assert {t["Name"] for t in tables} == {"customers", "customers_bronze"}

    monkeypatch.chdir(tmp_path)
    assert main(["down"]) == 0
    assert server.wait(timeout=30) == 0
    assert not state.exists()
    assert last_run_tables.read_bytes() == b"the last run's tables", "up must leave the last run to `sql`"
