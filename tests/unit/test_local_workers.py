"""Python Lambda functions in warm workers (localcloud/workers.py): reused like execution
environments, held to the function's memory and timeout, failing with the errors Lambda reports."""

import io
import json
import os
import threading
import zipfile

import boto3
import pytest
from moto import mock_aws

from localcloud import functions
from localcloud.workers import WarmWorkers

APP = """\
import os, time
import boto3
INVOCATIONS = []  # module state: survives between invocations of one execution environment
with open(os.path.join(os.environ["IMPORTS_LOG"]), "a") as log:
    log.write("imported\\n")

def handler(event, context):
    INVOCATIONS.append(event)
    if event.get("module"):
        __import__(event["module"])
    if event.get("hungry_mb"):
        block = bytearray(event["hungry_mb"] * 2**20)
    time.sleep(event.get("sleep", 0))
    if event.get("fail"):
        raise ValueError(event["fail"])
    return {"pid": os.getpid(), "invocations": len(INVOCATIONS), "sdk": boto3.__version__,
            "memory": context.memory_limit_in_mb, "remaining_ms": context.get_remaining_time_in_millis()}
"""


def deployed(tmp_path, name: str, source: str, handler: str = "app.handler", memory_mb: int = 256,
             timeout_s: int = 30) -> functions.DeployedFunction:
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", source)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "lambda.amazonaws.com"}}]}
    with mock_aws():
        session = {"region_name": "us-east-1", "aws_access_key_id": "t", "aws_secret_access_key": "t"}
        role = boto3.client("iam", **session).create_role(RoleName="r", AssumeRolePolicyDocument=json.dumps(trust))
        arn = boto3.client("lambda", **session).create_function(
            FunctionName=name, Runtime="python3.11", Handler=handler, Code={"ZipFile": code.getvalue()},
            Role=role["Role"]["Arn"], MemorySize=memory_mb, Timeout=timeout_s,
            Environment={"Variables": {"IMPORTS_LOG": str(tmp_path / f"{name}-imports.log")}})["FunctionArn"]
        return functions.deployed(arn, tmp_path / "code")


@pytest.fixture
def workers(tmp_path):
    pool = WarmWorkers(log_dir=tmp_path / "logs")
    yield pool
    pool.close()


def call(workers, function, event=None, timeout_s=None):
    return workers.invoke(function, event or {}, environment=dict(os.environ), timeout_s=timeout_s).result


def test_a_second_invocation_reuses_the_warm_worker_without_importing_again(tmp_path, workers):
    function = deployed(tmp_path, "app", APP)
    first, second = call(workers, function), call(workers, function)
    assert first["pid"] == second["pid"] and (first["invocations"], second["invocations"]) == (1, 2)
    assert (tmp_path / "app-imports.log").read_text() == "imported\n"
    assert workers.started == 1 and 0 < second["remaining_ms"] <= 30_000 and second["memory"] == 256
    reports = [line for line in (tmp_path / "logs" / "app.log").read_text().splitlines() if line.startswith("REPORT")]
    assert len(reports) == 2 and all("Memory Size: 256 MB Max Memory Used: " in line for line in reports)


def test_concurrent_invocations_get_separate_workers(tmp_path, workers):
    function = deployed(tmp_path, "app", APP)
    results = []
    threads = [threading.Thread(target=lambda: results.append(call(workers, function, {"sleep": 1.5})))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({result["pid"] for result in results}) == 2 and workers.started == 2


def test_the_function_sees_only_its_code_its_layers_and_the_runtime_sdk(tmp_path, workers):
    function = deployed(tmp_path, "app", APP)
    assert call(workers, function, {"module": "json"})["sdk"] == boto3.__version__
    with pytest.raises(functions.FunctionError) as failed:
        call(workers, function, {"module": "pytest"})  # in this interpreter's site-packages, not Lambda's
    assert failed.value.error == "ModuleNotFoundError"
    assert json.loads(failed.value.cause)["errorMessage"] == "No module named 'pytest'"


def test_a_handler_error_fails_the_invocation_and_keeps_the_worker(tmp_path, workers):
    function = deployed(tmp_path, "app", APP)
    with pytest.raises(functions.FunctionError) as failed:
        call(workers, function, {"fail": "bad input"})
    assert failed.value.error == "ValueError" and json.loads(failed.value.cause)["errorMessage"] == "bad input"
    assert call(workers, function)["invocations"] == 2 and workers.started == 1


def test_memory_and_timeout_are_enforced_and_the_next_invocation_starts_fresh(tmp_path, workers):
    function = deployed(tmp_path, "app", APP, memory_mb=128, timeout_s=2)
    with pytest.raises(functions.FunctionError) as hungry:
        call(workers, function, {"hungry_mb": 200, "sleep": 1})
    assert hungry.value.error == "Runtime.OutOfMemory" and "of its 128 MB" in hungry.value.cause
    with pytest.raises(functions.FunctionError) as slow:
        call(workers, function, {"sleep": 5})
    assert slow.value.error == "Sandbox.Timedout" and "after 2.00 seconds" in slow.value.cause
    assert call(workers, function)["invocations"] == 1 and workers.started == 3  # each kill cost a cold start


def test_a_module_that_cannot_be_imported_fails_as_lambda_reports_it(tmp_path, workers):
    function = deployed(tmp_path, "broken", "import not_a_module\n")
    with pytest.raises(functions.FunctionError) as failed:
        call(workers, function)
    assert failed.value.error == "Runtime.ImportModuleError"
