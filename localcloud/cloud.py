"""The embedded local cloud: a moto server that the app is deployed to with `cdklocal`, running its
state machine.

`LocalCloud.start()` starts moto on a loopback port with Step Functions execution enabled and
the local executors installed; `deploy(assembly)` runs `cdklocal bootstrap` and `cdklocal deploy
--all` against it, as a user would (CloudFormation — moto's, completed by cloudformation.py —
creates every resource from the templates); the functions and task definitions the executors
then run are the ones CloudFormation created. `run()` starts an execution and follows it through
the execution history.
"""

import json
import os
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import boto3

from localcloud import cloudformation, executors, functions, policies
from localcloud.assembly import AssemblyError, read_stacks
from localcloud.athena_duckdb import AthenaOnDuckDB, GlueCatalog, inside
from localcloud.definition import load_definition, state_machines, unsupported

# cdklocal's account (LocalStack's): requests without a 12-digit access key act in it, and cdk
# looks its bootstrap version up there.
ACCOUNT, REGION = "000000000000", "us-east-1"
REPO = Path(__file__).resolve().parent.parent
CDKLOCAL = REPO / "node_modules" / ".bin" / "cdklocal"
MILESTONES = ("✅", "❌", "✨", "‣")  # the cdk CLI's lines for a stack deployed, failed, timed, and errors


class DeployError(AssemblyError):
    """The app could not be deployed to the local cloud, or uses what it cannot run."""


class MotoS3Store:
    """Athena-on-DuckDB's object store: folders mirrored from and published to the local S3.
    Mirroring goes by ETag, so the catalog sync before every statement moves only what changed."""

    def __init__(self, s3, root: Path) -> None:
        self.s3, self.root = s3, root
        self._etags: dict[Path, str] = {}  # local file -> ETag of the object it holds

    def _split(self, uri: str) -> tuple[str, str]:
        bucket, _, prefix = uri[len("s3://"):].partition("/")
        return bucket, prefix

    def folder(self, uri: str) -> Path:
        bucket, prefix = self._split(uri)
        local = inside(self.root, f"{bucket}/{prefix}")
        local.mkdir(parents=True, exist_ok=True)
        listed = set()
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                target = inside(self.root, f"{bucket}/{item['Key']}")
                listed.add(target)
                if self._etags.get(target) != item["ETag"] or not target.is_file():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    self.s3.download_file(bucket, item["Key"], str(target))
                    self._etags[target] = item["ETag"]
        for path in [p for p in local.rglob("*") if p.is_file() and p not in listed]:
            path.unlink()
            self._etags.pop(path, None)
        return local

    def written(self, uri: str, folder: Path) -> None:
        bucket, prefix = self._split(uri)
        for path in folder.rglob("*"):
            if path.is_file():
                with path.open("rb") as body:
                    key = prefix + path.relative_to(folder).as_posix()
                    self._etags[path] = self.s3.put_object(Bucket=bucket, Key=key, Body=body)["ETag"]


@dataclass(frozen=True)
class Deployment:
    stacks: list[str]  # in deployment order
    exports: dict[str, str]  # export name -> value
    state_machine_arn: str


class LocalCloud:
    def __init__(self, state_dir: Path = Path(".localcloud")) -> None:
        self.state_dir = state_dir
        self.server = None
        self.endpoint: str | None = None
        self.deployment: Deployment | None = None

    # --- server -------------------------------------------------------------------------------

    def start(self, port: int = 0) -> str:
        from moto.core.config import default_user_config
        from moto.server import ThreadedMotoServer

        os.environ["MOTO_ACCOUNT_ID"] = ACCOUNT
        default_user_config["stepfunctions"] = {"execute_state_machine": True}
        cloudformation.install(invoke=self._answer_custom_resource)
        policies.install()
        port = port or _free_port()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self.server.start()
        self.endpoint = f"http://127.0.0.1:{port}"
        os.environ["MOTO_PORT"] = str(port)  # moto's own SNS / aws-sdk integrations call back here
        executors.install()
        executors.REGISTRY.base_environment = {
            "AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
        }
        executors.REGISTRY.log_dir = self.state_dir / "logs"
        executors.REGISTRY.invoke = lambda arn, payload, timeout_s: self.invoke(arn, payload, timeout_s).result
        executors.REGISTRY.task = self.task_definition
        self.state_dir.mkdir(parents=True, exist_ok=True)
        executors.REGISTRY.athena = AthenaOnDuckDB(MotoS3Store(self.client("s3"), self.state_dir / "athena"),
                                                   GlueCatalog(self.client("glue")),
                                                   database=self.state_dir / "athena.duckdb")
        return self.endpoint

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def client(self, service: str):
        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id="local", aws_secret_access_key="local")

    # --- deploy -------------------------------------------------------------------------------

    def cdk_environment(self) -> dict[str, str]:
        """What cdklocal (and aws / awslocal) need to talk to this cloud. S3 on `localhost`: the
        CDK's asset upload addresses buckets in a way moto resolves only on a host name."""
        url = self.endpoint.replace("127.0.0.1", "localhost")
        return {"AWS_ENDPOINT_URL": url, "AWS_ENDPOINT_URL_S3": url, "AWS_ACCESS_KEY_ID": "test",
                "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}

    def deploy(self, assembly: Path, output: Callable[[str], None] = print) -> Deployment:
        """`cdklocal bootstrap` and `cdklocal deploy --all` of the synthesized `assembly`."""
        stacks = read_stacks(assembly)
        _check_state_machine(stacks)
        for command in (["bootstrap"], ["deploy", "--all", "--require-approval", "never"]):
            self._cdklocal([*command, "--app", str(assembly)], output)
        self.deployment = self.deployed([stack.name for stack in stacks])
        return self.deployment

    def _cdklocal(self, args: list[str], output: Callable[[str], None]) -> None:
        """Run cdklocal; its milestones are shown, every line is kept in logs/cdklocal-<command>.log."""
        if not CDKLOCAL.is_file():
            raise DeployError(f"{CDKLOCAL} not found: run `npm ci` (make does)")
        environment = {**os.environ, **self.cdk_environment(), "CDK_DISABLE_CLI_TELEMETRY": "true",
                       "PATH": f"{CDKLOCAL.parent}:{os.environ.get('PATH', '')}"}  # the Node package.json pins
        log = self.state_dir / "logs" / f"cdklocal-{args[0]}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        output(f"$ cdklocal {' '.join(args)}    (full output: {log})")
        with log.open("w") as kept:
            process = subprocess.Popen([str(CDKLOCAL), *args, "--no-notices", "--progress", "events"], cwd=REPO,
                                       env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for line in process.stdout:
                kept.write(line)
                if line.lstrip().startswith(MILESTONES) or "_FAILED" in line:
                    output(f"  {line.strip()}")
        if process.wait() != 0:
            raise DeployError(f"cdklocal {args[0]} failed (see {log}):\n" + "".join(log.read_text().splitlines(True)[-30:]))

    def deployed(self, stack_names: list[str]) -> Deployment:
        """What CloudFormation reports for the deployed stacks: exports and the state machine."""
        cloudformation_api = self.client("cloudformation")
        exports = {e["Name"]: e["Value"] for page in cloudformation_api.get_paginator("list_exports").paginate()
                   for e in page["Exports"]}
        machines = [resource["PhysicalResourceId"] for name in stack_names
                    for page in cloudformation_api.get_paginator("list_stack_resources").paginate(StackName=name)
                    for resource in page["StackResourceSummaries"]
                    if resource["ResourceType"] == "AWS::StepFunctions::StateMachine"]
        if len(machines) != 1:
            raise DeployError(f"expected one state machine in the deployed stacks, found {len(machines)}")
        return Deployment(stacks=stack_names, exports=exports, state_machine_arn=machines[0])

    # --- what CloudFormation created, run -----------------------------------------------------

    def invoke(self, function_arn: str, event: dict, timeout_s: float | None = None) -> functions.Invocation:
        """Invoke a deployed Lambda function, named or by ARN (raises functions.FunctionError as Lambda fails)."""
        if not function_arn.startswith("arn:"):
            function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function_arn}"
        function = functions.deployed(function_arn, self.state_dir / "functions")
        return functions.invoke(function, event, environment={**os.environ, **executors.REGISTRY.base_environment},
                                log_dir=self.state_dir / "logs", timeout_s=timeout_s)

    def _answer_custom_resource(self, function_arn: str, event: dict) -> dict | None:
        return self.invoke(function_arn, event).response

    @staticmethod
    def task_definition(cluster_arn: str, reference: str) -> executors.LocalTask | None:
        """The task definition `reference` (family or ARN) names, as registered in the cluster's account."""
        from moto.ecs.exceptions import TaskDefinitionNotFoundException
        from moto.ecs.models import ecs_backends

        _, _, _, region, account, *_ = (cluster_arn if cluster_arn.startswith("arn:") else
                                        f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/default").split(":")
        try:
            definition = ecs_backends[account][region].describe_task_definition(reference)
        except TaskDefinitionNotFoundException:
            return None
        [container] = definition.container_definitions
        return executors.LocalTask(
            command=container.get("command", []),
            environment={e["name"]: str(e["value"]) for e in container.get("environment", [])},
            memory_mb=int(definition.memory or container.get("memory") or 512))

    # --- run ----------------------------------------------------------------------------------

    def upload_source(self, csv_path: Path, key: str = "customers/customers.csv") -> None:
        bucket = next(v for k, v in self.deployment.exports.items() if k.endswith("-RawBucketName"))
        self.client("s3").upload_file(str(csv_path), bucket, key)

    def run(self, name: str | None = None, source_key: str = "customers/customers.csv",
            on_event: Callable[[dict], None] | None = None, on_poll: Callable[[], None] | None = None,
            timeout_s: float = 3600) -> dict:
        sfn = self.client("stepfunctions")
        name = name or time.strftime("local-%Y%m%d-%H%M%S")
        arn = sfn.start_execution(stateMachineArn=self.deployment.state_machine_arn, name=name,
                                  input=json.dumps({"source_key": source_key}))["executionArn"]
        seen, deadline = 0, time.monotonic() + timeout_s
        while True:
            status = sfn.describe_execution(executionArn=arn)  # before the history: no event is missed
            events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
            for event in events[seen:]:
                if on_event:
                    on_event(event)
            seen = len(events)
            if status["status"] != "RUNNING":
                return {**status, "events": events}
            if on_poll:
                on_poll()
            if time.monotonic() > deadline:
                raise TimeoutError(f"execution {name} still running after {timeout_s} s")
            time.sleep(0.5)


def _check_state_machine(stacks) -> None:
    """Refuse, before deploying, a state machine the local executors cannot run, naming each state."""
    found = [machine for stack in stacks for machine in state_machines(stack.template).values()]
    if len(found) != 1:
        raise DeployError(f"expected one state machine in the app, found {len(found)}")
    problems = unsupported(load_definition(found[0]))
    if problems:
        raise DeployError("the state machine uses what the local cloud cannot run:\n  " + "\n  ".join(problems))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
