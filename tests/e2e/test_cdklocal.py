"""The app deployed as its users deploy it: `python -m localcloud up --empty`, then `cdklocal
bootstrap` and `cdklocal deploy --all` (CloudFormation — moto's, completed by the local cloud —
creates every resource; none is skipped), a 10K-customer CSV uploaded and the execution started
with plain boto3, and a second deploy after a change updating the stacks in place."""

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from datagen.generator import GeneratorConfig
from datagen.writer import write_dataset

REPO = Path(__file__).resolve().parents[2]
CDKLOCAL = REPO / "node_modules" / ".bin" / "cdklocal"


@pytest.fixture(scope="module")
def empty_cloud(tmp_path_factory, local_images):
    home = tmp_path_factory.mktemp("cloud")
    images = [argument for uri, dockerfile in local_images.items() for argument in ("--image", f"{uri}={dockerfile}")]
    server = subprocess.Popen([sys.executable, "-m", "localcloud", "up", "--empty", *images], cwd=home,
                              env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    state = home / ".localcloud" / "server.json"
    deadline = time.monotonic() + 60
    while not state.is_file():
        assert server.poll() is None and time.monotonic() < deadline, server.stdout.read() if server.poll() else "slow"
        time.sleep(0.2)
    served = json.loads(state.read_text())
    yield {"AWS_ENDPOINT_URL": served["endpoint"].replace("127.0.0.1", "localhost"), **served["credentials"]}
    server.terminate()
    server.wait(timeout=30)


def cdklocal(cloud: dict, *args: str) -> str:
    """cdklocal as `up` tells its owner to run it: the endpoint and this session's keys."""
    env = {**os.environ, **cloud, "AWS_ENDPOINT_URL_S3": cloud["AWS_ENDPOINT_URL"], "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENVAR_ALLOWLIST": "AWS_ACCESS_KEY_ID,AWS_SECRET_ACCESS_KEY,AWS_DEFAULT_REGION",
           "PATH": f"{CDKLOCAL.parent}:{os.environ['PATH']}"}
    result = subprocess.run([str(CDKLOCAL), *args, "--no-notices"], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def client(cloud: dict, service: str):
    return boto3.client(service, endpoint_url=cloud["AWS_ENDPOINT_URL"], region_name="us-east-1",
                        aws_access_key_id=cloud["AWS_ACCESS_KEY_ID"], aws_secret_access_key=cloud["AWS_SECRET_ACCESS_KEY"])


def changed_copy(assembly: Path, target: Path) -> Path:
    """The assembly with one change to the pipeline stack (a stage function's environment), its
    template re-hashed as synth would (the CLI uploads a template under its hash); the asset
    folders are linked, not copied."""
    target.mkdir()
    for item in assembly.iterdir():
        (target / item.name).symlink_to(item) if item.is_dir() else (target / item.name).write_bytes(item.read_bytes())
    path = target / "EngagementPipeline.template.json"
    template = json.loads(path.read_text())
    function = next(r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"
                    and r["Properties"].get("Handler") == "handlers.ingest.handler")
    function["Properties"]["Environment"]["Variables"]["REDEPLOYED"] = "yes"
    path.write_text(json.dumps(template))
    assets = json.loads((target / "EngagementPipeline.assets.json").read_text())["files"]
    [old_hash] = [key for key, asset in assets.items() if asset["source"]["path"] == path.name]
    new_hash = hashlib.sha256(path.read_bytes()).hexdigest()
    for manifest in ("manifest.json", "EngagementPipeline.assets.json"):
        (target / manifest).write_text((target / manifest).read_text().replace(old_hash, new_hash))
    return target


def test_cdklocal_deploys_the_app_and_its_state_machine_runs(empty_cloud, local_assembly, tmp_path):
    started = time.monotonic()
    cdklocal(empty_cloud, "bootstrap", "--app", str(local_assembly))
    cdklocal(empty_cloud, "deploy", "--all", "--app", str(local_assembly), "--require-approval", "never")
    print(f"cdklocal bootstrap + deploy --all: {time.monotonic() - started:.1f} s")
    cfn = client(empty_cloud, "cloudformation")
    stacks = {s["StackName"]: s["StackStatus"] for s in cfn.describe_stacks()["Stacks"]}
    assert stacks == {"CDKToolkit": "CREATE_COMPLETE", "EngagementData": "CREATE_COMPLETE",
                      "EngagementNetwork": "CREATE_COMPLETE", "EngagementMl": "CREATE_COMPLETE",
                      "EngagementPipeline": "CREATE_COMPLETE", "EngagementAi": "CREATE_COMPLETE"}
    for name in stacks.keys() - {"CDKToolkit"}:  # nothing skipped: every declared resource was created
        template = json.loads((local_assembly / f"{name}.template.json").read_text())
        declared = {k: r["Type"] for k, r in template["Resources"].items() if r["Type"] != "AWS::CDK::Metadata"}
        created = {r["LogicalResourceId"]: r["ResourceType"] for page in
                   cfn.get_paginator("list_stack_resources").paginate(StackName=name)
                   for r in page["StackResourceSummaries"] if r["LogicalResourceId"]}  # moto lists a blank one
        assert created == declared, name

    exports = {e["Name"]: e["Value"] for e in cfn.list_exports()["Exports"]}
    write_dataset(GeneratorConfig(rows=10_000, seed=3), tmp_path / "data", progress=None)
    client(empty_cloud, "s3").upload_file(str(tmp_path / "data" / "customers.csv"),
                                          exports["EngagementData-RawBucketName"], "customers/customers.csv")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName="EngagementPipeline")[
        "Stacks"][0]["Outputs"]}
    sfn = client(empty_cloud, "stepfunctions")
    execution = sfn.start_execution(stateMachineArn=outputs["StateMachineArn"], name="cdklocal-run",
                                    input=json.dumps({"source_key": "customers/customers.csv"}))["executionArn"]
    deadline = time.monotonic() + 600
    while (status := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "execution still running"
        time.sleep(1)
    assert status["status"] == "SUCCEEDED", status.get("cause")

    cdklocal(empty_cloud, "deploy", "--all", "--app", str(changed_copy(local_assembly, tmp_path / "changed")),
             "--require-approval", "never")
    stacks = {s["StackName"]: s["StackStatus"] for s in cfn.describe_stacks()["Stacks"]}
    assert stacks["EngagementPipeline"] == "UPDATE_COMPLETE" and stacks["EngagementData"] == "CREATE_COMPLETE"
    after = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName="EngagementPipeline")[
        "Stacks"][0]["Outputs"]}
    assert after["StateMachineArn"] == outputs["StateMachineArn"], "updated in place, not re-created"
    ingest = next(f for f in client(empty_cloud, "lambda").list_functions()["Functions"]
                  if f["Handler"] == "handlers.ingest.handler")
    assert ingest["Environment"]["Variables"]["REDEPLOYED"] == "yes"
