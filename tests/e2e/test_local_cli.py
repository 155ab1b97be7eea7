"""The command lines end to end: the product's `run --input` on a user's file, then serving
`predict` and `ask`; the local cloud's `up` keeping a deployed app serving for plain AWS clients
until `down`."""

import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import boto3

from datagen.generator import GeneratorConfig
from datagen.writer import write_dataset
from localcloud.__main__ import main

USERS_ROWS = 3_000
UNREADABLE_AGES = 7


def run_cli(folder: Path, local_assembly: Path, local_images: dict[str, Path], *args: str):
    images = [arg for uri, dockerfile in local_images.items() for arg in ("--image", f"{uri}={dockerfile}")]
    finished = subprocess.run([sys.executable, "-m", "engagement_cli", "run", "--assembly", str(local_assembly), *images,
                               *args], cwd=folder, capture_output=True, text=True, timeout=900)
    summary = folder / ".localcloud" / "last-run.json"
    return finished, json.loads(summary.read_text()) if summary.is_file() else None


def users_file(folder: Path) -> Path:
    """A user's export: the contract's columns in another order, a few ages nobody can read."""
    write_dataset(GeneratorConfig(rows=USERS_ROWS, seed=5), folder / "generated", progress=None)
    with (folder / "generated" / "customers.csv").open(newline="") as generated:
        rows = list(csv.DictReader(generated))
    for row in rows[:UNREADABLE_AGES]:
        row["age"] = "thirty"
    mine = folder / "mine.csv"
    with mine.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(reversed(rows[0].keys())))
        writer.writeheader()
        writer.writerows(rows)
    return mine


def test_run_input_runs_a_users_file_then_serves_predict_until_down(local_assembly, local_images, tmp_path):
    images = [arg for uri, dockerfile in local_images.items() for arg in ("--image", f"{uri}={dockerfile}")]
    cli = [sys.executable, "-m", "engagement_cli"]
    refused = subprocess.run([*cli, "predict", "CUST-00000001"], cwd=tmp_path, capture_output=True, text=True)
    assert refused.returncode == 1 and "no local cloud is serving" in refused.stderr
    server = subprocess.Popen([*cli, "run", "--assembly", str(local_assembly), *images, "--input",
                               str(users_file(tmp_path)), "--serve", "--converse", "planner:converse"], cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    state = tmp_path / ".localcloud" / "server.json"
    deadline = time.monotonic() + 600
    while not state.is_file() and server.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    try:
        assert state.is_file(), server.stdout.read() if server.poll() is not None else "no server.json in 600 s"
        predicted = subprocess.run([*cli, "predict", "CUST-00000009", "--json"], cwd=tmp_path, capture_output=True,
                                   text=True, timeout=60)
        missing = subprocess.run([*cli, "predict", "CUST-99999999"], cwd=tmp_path, capture_output=True, text=True,
                                 timeout=60)
        asked = subprocess.run([*cli, "ask", "What is the churn rate by device type?"], cwd=tmp_path,
                               capture_output=True, text=True, timeout=60)
    finally:
        subprocess.run([sys.executable, "-m", "localcloud", "down"], cwd=tmp_path, capture_output=True, timeout=60)
        output = server.communicate(timeout=120)[0]
    assert predicted.returncode == 0, predicted.stderr
    answer = json.loads(predicted.stdout)
    summary = json.loads((tmp_path / ".localcloud" / "last-run.json").read_text())
    assert answer["customer_id"] == "CUST-00000009" and answer["run_id"] == summary["output"]["run"]["run_id"]
    assert missing.returncode == 1 and "404: customer_id 'CUST-99999999' is not in the published run" in missing.stderr
    assert asked.returncode == 0 and "[1] query_athena" in asked.stdout, asked.stdout + asked.stderr
    result = summary["output"]
    assert summary["status"] == "SUCCEEDED" and result["published"]["pointer"].endswith("/published/latest.json")
    assert (result["ingest"]["rows_in"], result["ingest"]["rows_quarantined"]) == (USERS_ROWS, UNREADABLE_AGES)
    accepted = USERS_ROWS - UNREADABLE_AGES
    assert result["ingest"]["rows_accepted"] == result["outputs"]["cache"]["items_written"] == accepted
    assert "engagement_analytics.final_results" in summary["views"]
    assert "generating" not in output and not state.exists()
    [devices, uplift] = summary["example_answers"]  # asked through the deployed /ask after the run
    assert devices["answer"].startswith("Mean engagement score by device type") and "ask: Do mobile users" in output
    assert "scored with the published run's models" in uplift["answer"] and "What-if (10% of free users" in output


def test_run_input_refuses_a_file_that_breaks_the_contract_and_publishes_nothing(local_assembly, local_images,
                                                                                  tmp_path):
    broken = tmp_path / "broken.csv"
    broken.write_text("customer_id,full_name,emial\nC-1,Ann,ann@example.com\n")
    finished, summary = run_cli(tmp_path, local_assembly, local_images, "--input", str(broken))
    assert finished.returncode == 1
    assert summary["status"] == "FAILED" and not summary["views"], "nothing published"
    reason = summary["failed_states"]["PlanIngest"]  # every file's header is checked before any row is read
    assert "contract columns are missing" in reason and "email" in reason, summary["failed_states"]
    assert "contract columns are missing" in finished.stdout


def test_up_serves_the_deployed_app_to_aws_clients_until_down(local_assembly, tmp_path, monkeypatch, capsys):
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
    endpoint, keys = json.loads(state.read_text())["endpoint"], json.loads(state.read_text())["credentials"]

    def client(service: str):
        return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                            aws_access_key_id=keys["AWS_ACCESS_KEY_ID"], aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"])

    machines = client("stepfunctions").list_state_machines()["stateMachines"]
    assert [m["name"].split("-")[:2] for m in machines] == [["EngagementPipeline", "PipelineStateMachine1814BD05"]]
    buckets = [b["Name"] for b in client("s3").list_buckets()["Buckets"]]
    assert len([b for b in buckets if b.startswith("engagementdata-")]) == 9  # and cdk bootstrap's staging bucket
    tables = client("glue").get_tables(DatabaseName="engagement_raw")["TableList"]
    assert {t["Name"] for t in tables} == {"customers", "customers_bronze"}

    served = json.loads(state.read_text())
    assert served["endpoint_localhost"].startswith("http://localhost:") and served["workgroup"] != "primary"
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    # The serving cloud holds the Athena database file: sql goes through its Athena API.
    assert main(["sql", "SELECT 6 * 7 AS answer"]) == 0
    assert capsys.readouterr().out.split() == ["answer", "------", "42", "(1", "rows)"]
    assert main(["sql", "SELECT * FROM engagement_raw.no_such_table"]) == 1
    assert "no_such_table" in capsys.readouterr().err
    assert main(["down"]) == 0
    assert server.wait(timeout=30) == 0
    assert not state.exists()
    assert last_run_tables.read_bytes() == b"the last run's tables", "up must leave the last run to `sql`"
