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
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import boto3

from localcloud import (athena_api, athena_workgroups, bedrock_agent, bedrock_runtime, cloudformation, dynamodb_writes,
                        executors, functions, iam_gate, images, lambda_api, owner, policies, tasks)
from localcloud.athena_access import CallerAccess
from localcloud.iam_requests import Check, Requests
from deployment.assembly import AssemblyError, read_stacks
from localcloud.athena_duckdb import AthenaOnDuckDB, AthenaSqlError, GlueCatalog, inside
from deployment.definition import load_definition, state_machines
from localcloud.definition import unsupported
from localcloud.rest_apis import RestApis
from localcloud.workers import WarmWorkers

# cdklocal's account (LocalStack's): requests without a 12-digit access key act in it, and cdk
# looks its bootstrap version up there.
ACCOUNT, REGION = "000000000000", "us-east-1"
REPO = Path(__file__).resolve().parent.parent
CDKLOCAL = REPO / "node_modules" / ".bin" / "cdklocal"
MILESTONES = ("✅", "❌", "✨", "‣")  # the cdk CLI's lines for a stack deployed, failed, timed, and errors


# cdklocal drops every AWS_* variable but these (and the endpoints) before it runs the CDK CLI.
CDKLOCAL_KEEPS = "AWS_ACCESS_KEY_ID,AWS_SECRET_ACCESS_KEY,AWS_REGION,AWS_DEFAULT_REGION"


class DeployError(AssemblyError):
    """The app could not be deployed to the local cloud, or uses what it cannot run."""


class MotoS3Store:
    """Athena-on-DuckDB's object store: folders mirrored from and published to the local S3.
    Mirroring goes by ETag, so the catalog sync before every statement moves only what changed.
    The mirror holds only what S3 holds now: a put or delete of a key drops its copy at once (the
    next query fetches it again), so an object rewritten or erased leaves no stale copy behind."""

    _active: "MotoS3Store | None" = None  # the store of the running cloud (moto's backend is process-wide)

    def __init__(self, s3, root: Path) -> None:
        self.s3, self.root = s3, root
        self._etags: dict[Path, str] = {}  # local file -> ETag of the object it holds
        self._publishing: set[Path] = set()  # files `written` is putting: their copy is the source
        MotoS3Store._active = self
        _mirror_follows_s3()

    def forget(self, bucket: str, key: str) -> None:
        try:
            path = inside(self.root, f"{bucket}/{key}")
        except AthenaSqlError:  # a key no query could mirror (`..`)
            return
        if path not in self._publishing:
            path.unlink(missing_ok=True)
            self._etags.pop(path, None)

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
                self._publishing.add(path)
                try:
                    with path.open("rb") as body:
                        key = prefix + path.relative_to(folder).as_posix()
                        self._etags[path] = self.s3.put_object(Bucket=bucket, Key=key, Body=body)["ETag"]
                finally:
                    self._publishing.discard(path)


def _integrations_sign_as(operator: owner.Operator) -> None:
    """moto's Step Functions integrations call the server back with fixed keys anyone could use:
    they sign with the session's operator credentials instead (the state machine's role is
    checked by the executors, as before)."""
    import sys

    import botocore.config
    from moto.settings import moto_server_port
    from moto.stepfunctions.parser.asl.utils import boto_client

    def boto_client_for(region: str, service: str, state_credentials=None):
        return boto3.client(service, region_name=region, endpoint_url=f"http://localhost:{moto_server_port()}",
                            aws_access_key_id=operator.access_key, aws_secret_access_key=operator.secret_key,
                            config=botocore.config.Config(parameter_validation=False,
                                                          retries={"max_attempts": 0, "total_max_attempts": 1},
                                                          connect_timeout=99_999_999,  # as moto sets them
                                                          read_timeout=99_999_999))

    boto_client.boto_client_for = boto_client_for  # for the modules imported from now on
    for name, module in list(sys.modules.items()):  # and those already imported
        if name.startswith("moto.stepfunctions.parser") and hasattr(module, "boto_client_for"):
            module.boto_client_for = boto_client_for


def _mirror_follows_s3() -> None:
    """moto's S3 tells the running cloud's mirror of every key it writes or deletes."""
    from moto.s3.models import S3Backend

    if getattr(S3Backend.put_object, "local", False):
        return
    put, delete = S3Backend.put_object, S3Backend.delete_object

    def put_object(self, bucket_name, key_name, *args, **kwargs):
        key = put(self, bucket_name, key_name, *args, **kwargs)
        if MotoS3Store._active is not None:
            MotoS3Store._active.forget(bucket_name, key_name)
        return key

    def delete_object(self, bucket_name, key_name, *args, **kwargs):
        answer = delete(self, bucket_name, key_name, *args, **kwargs)
        if MotoS3Store._active is not None:
            MotoS3Store._active.forget(bucket_name, key_name)
        return answer

    put_object.local = delete_object.local = True
    S3Backend.put_object, S3Backend.delete_object = put_object, delete_object


@dataclass(frozen=True)
class Deployment:
    stacks: list[str]  # in deployment order
    exports: dict[str, str]  # export name -> value
    state_machine_arn: str


class LocalCloud:
    """One local cloud: its server, what was deployed to it, and everything its executors use.

    `images` maps an image URI that task definitions name to the Dockerfile that builds it (read
    with `build_context` as docker build's context; see images.py). IAM is enforced on every call
    a role makes (iam_gate.py); `enforce_iam=False` exists to measure what that costs."""

    def __init__(self, state_dir: Path = Path(".localcloud"), images: dict[str, Path] | None = None,
                 build_context: Path = REPO, converse: bedrock_runtime.Converse | None = None,
                 enforce_iam: bool = True) -> None:
        self.state_dir = state_dir
        self.log_dir = state_dir / "logs"
        self.server = None
        self.endpoint: str | None = None
        self.deployment: Deployment | None = None
        self._image_sources = dict(images or {})
        self._converse = converse  # the stand-in model Bedrock's Converse is answered by (none: an error)
        self._build_context = build_context
        self._images: dict[str, images.LocalImage] = {}
        self._athena: AthenaOnDuckDB | None = None
        self._athena_requests: dict[str, tuple[str, dict]] = {}  # client request token -> (query, outcome)
        self.workers = WarmWorkers(log_dir=self.log_dir)  # Python functions' execution environments
        self.operator = owner.Operator.new()  # this session's administrator credentials (server.json, 0600)
        self.iam = iam_gate.Gate(ACCOUNT, REGION, self.log_dir / "iam.jsonl", enforce_iam,  # every role's calls
                                 operator=self.operator)
        self.requests = Requests(ACCOUNT, REGION)
        self._machine_roles: dict[str, str] = {}
        self.apis = RestApis(account=ACCOUNT, region=REGION, log_dir=self.log_dir,  # API Gateway's REST APIs
                             invoke=lambda arn, event, timeout_s: self.invoke(arn, event, timeout_s).result,
                             secret_of=self.iam.secret_of)

    # --- server -------------------------------------------------------------------------------

    def start(self, port: int = 0) -> str:
        from moto.core.config import default_user_config
        from moto.server import ThreadedMotoServer

        self._images = {uri: images.build(uri, dockerfile, self._build_context,  # first: a bad Dockerfile starts nothing
                                          self.state_dir / "images" / uri.replace("/", "_").replace(":", "_"))
                        for uri, dockerfile in self._image_sources.items()}
        owner.private(self.state_dir)  # first: nothing it writes is readable by another user
        os.environ["MOTO_ACCOUNT_ID"] = ACCOUNT
        default_user_config["stepfunctions"] = {"execute_state_machine": True}
        _integrations_sign_as(self.operator)
        cloudformation.install(invoke=self._answer_custom_resource)
        policies.install()
        dynamodb_writes.install()
        bedrock_runtime.install(self._converse)
        bedrock_agent.install(self._read_as_knowledge_base, REGION)
        port = port or _free_port()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self.server.start()
        self.endpoint = f"http://127.0.0.1:{port}"
        os.environ["MOTO_PORT"] = str(port)  # moto's own SNS / aws-sdk integrations call back here
        executors.install(self)
        athena_api.install(self)
        lambda_api.install(self)
        iam_gate.install(self.iam, self.requests)  # last: the outermost layer, before anything answers
        self.apis.start()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._athena = AthenaOnDuckDB(MotoS3Store(self.client("s3"), self.state_dir / "athena"),
                                      GlueCatalog(self.client("glue")), database=self.state_dir / "athena.duckdb")
        return self.endpoint

    def stop(self) -> None:
        """Stop serving; the Athena database file is flushed for later `sql` sessions."""
        self.apis.stop()
        self.workers.close()
        self.iam.close()
        iam_gate.uninstall(self.iam)  # moto's server application is process-wide: stop deciding for it
        if MotoS3Store._active is not None and self._athena is not None and MotoS3Store._active is self._athena.store:
            MotoS3Store._active = None
        if self._athena is not None:
            self._athena.close()
            self._athena = None
        if self.server is not None:
            self.server.stop()
            self.server = None

    @property
    def base_environment(self) -> dict[str, str]:
        """What every function and task gets to reach this cloud: endpoint, credentials, region."""
        return {"AWS_ENDPOINT_URL": self.endpoint, **self.operator.environment,
                "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}

    def client(self, service: str, session: iam_gate.Session | None = None):
        """A client as the operator, or as an issued session."""
        keys = {"aws_access_key_id": self.operator.access_key,
                "aws_secret_access_key": self.operator.secret_key} if session is None else {
            "aws_access_key_id": session.access_key, "aws_secret_access_key": session.secret_key,
            "aws_session_token": session.token}
        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION, **keys)

    # --- deploy -------------------------------------------------------------------------------

    def cdk_environment(self) -> dict[str, str]:
        """What cdklocal (and aws / awslocal) need to talk to this cloud. S3 on `localhost`: the
        CDK's asset upload addresses buckets in a way moto resolves only on a host name."""
        url = self.endpoint.replace("127.0.0.1", "localhost")
        return {"AWS_ENDPOINT_URL": url, "AWS_ENDPOINT_URL_S3": url, **self.operator.environment,
                "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "AWS_ENVAR_ALLOWLIST": CDKLOCAL_KEEPS}

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
        environment = {**os.environ, **self.base_environment,
                       **self.iam.session(function.role, "lambda.amazonaws.com").environment()}
        if function.runtime.startswith("python3"):
            return self.workers.invoke(function, event, environment=environment, timeout_s=timeout_s)
        return functions.invoke_node(function, event, environment=environment, log_dir=self.log_dir,
                                     timeout_s=timeout_s)

    def _answer_custom_resource(self, function_arn: str, event: dict) -> dict | None:
        return self.invoke(function_arn, event).response

    def registered_task(self, cluster_arn: str, reference: str) -> tasks.RegisteredTask | None:
        """The task definition (family or ARN) in the cluster's account and region."""
        _, _, _, region, account, *_ = (cluster_arn if cluster_arn.startswith("arn:") else
                                        f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/default").split(":")
        return tasks.registered(account, region, reference)

    def run_task(self, cluster_arn: str, reference: str, overrides: dict, timeout_s: float) -> dict:
        """Run a registered task definition (family or ARN) to completion in the cluster's account;
        the stopped task as runTask.sync returns it, or tasks.TaskError as the ECS integration fails."""
        task = self.registered_task(cluster_arn, reference)
        if task is None:
            raise tasks.TaskError("ECS.InvalidParameterException", "TaskDefinition not found. (Service: AmazonECS; "
                                  "Status Code: 400; Error Code: InvalidParameterException)")
        # A task without a task role gets no credentials, as on Fargate.
        environment = {k: v for k, v in self.base_environment.items()
                       if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
        if task.task_role is not None:
            environment.update(self.iam.session(task.task_role, "ecs-tasks.amazonaws.com").environment())
        return tasks.run(task, self._images.get(task.image), cluster_arn=cluster_arn, overrides=overrides,
                         base_environment=environment, log_dir=self.log_dir, timeout_s=timeout_s)

    def query(self, sql: str) -> list[tuple]:
        """Run one Athena (Trino) statement on the local Athena; its rows (AthenaSqlError if it fails)."""
        return self.query_result(sql)[1]

    def query_result(self, sql: str, database: str | None = None, workgroup: str | None = None,
                     caller: iam_gate.Session | None = None,
                     query_id: str | None = None) -> tuple[list[tuple[str, str]], list[tuple]]:
        """(columns as (name, Athena type), rows) of one statement; `database` as Athena's
        QueryExecutionContext, `workgroup` the workgroup it runs in, whose rules apply; `caller`
        the session that started it, whose permissions Athena reads and writes with (None: the
        operator); `query_id` names it for `stop_query`. AthenaSqlError if it fails."""
        if workgroup is not None:
            athena_workgroups.check(sql, workgroup, ACCOUNT, REGION)
        if caller is not None:
            self._check_caller(sql, database, workgroup, caller)
        return self._athena.result(sql, database, query_id=query_id)

    def stop_query(self, query_id: str) -> bool:
        """Interrupt a running query (StopQueryExecution); False if it is not running."""
        return self._athena.interrupt(query_id)

    def _check_caller(self, sql: str, database: str | None, workgroup: str | None, caller) -> None:
        access = CallerAccess(self.requests, self.client("glue"), self.client("s3"))
        try:
            access.check(sql, database, athena_workgroups.output_location(workgroup, ACCOUNT, REGION),
                         lambda checks: self.iam.check(caller, checks))
        except iam_gate.AccessDenied as denied:
            raise AthenaSqlError(f"Permission denied: {denied}") from None

    def state_machine_session(self, state_machine_arn: str, role_arn: str | None = None) -> iam_gate.Session:
        """The state machine's role, as its integrations act (Step Functions assumes it)."""
        if role_arn:
            self._machine_roles[state_machine_arn] = role_arn
        if state_machine_arn not in self._machine_roles:
            self._machine_roles[state_machine_arn] = self.client("stepfunctions").describe_state_machine(
                stateMachineArn=state_machine_arn)["roleArn"]
        return self.iam.session(self._machine_roles[state_machine_arn], "states.amazonaws.com", state_machine_arn)

    def _read_as_knowledge_base(self, role_arn: str, knowledge_base_arn: str, reads: list) -> None:
        """A knowledge base's ingestion job reads its data source as the knowledge base's role."""
        session = self.iam.session(role_arn, "bedrock.amazonaws.com", knowledge_base_arn)
        self.iam.check(session, [check for read in reads for check in self.requests.s3(read)])

    def authorize(self, session: iam_gate.Session, checks: list[Check]) -> None:
        """Decide `checks` as `session` (iam_gate.AccessDenied when refused)."""
        self.iam.check(session, checks)

    def athena_request(self, sql: str, token: str | None, workgroup: str | None = None,
                       caller: iam_gate.Session | None = None) -> dict:
        """StartQueryExecution as Athena answers it: a request token names one query, and a retry
        with the same token gets that query's outcome instead of running it again."""
        token = token or str(uuid.uuid4())
        if token in self._athena_requests:
            earlier, outcome = self._athena_requests[token]
            if earlier != sql:
                return {"error": f"client request token {token} was used with another query",
                        "error_name": "Athena.InvalidRequestException"}
            return outcome
        try:
            self.query_result(sql, workgroup=workgroup, caller=caller)
            outcome = {"QueryExecution": {"QueryExecutionId": str(uuid.uuid4()), "Status": {"State": "SUCCEEDED"}}}
        except athena_workgroups.WorkgroupRefusal as refused:
            outcome = {"error": str(refused), "error_name": "Athena.InvalidRequestException"}
        except AthenaSqlError as error:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            (self.log_dir / "athena-failed.sql").write_text(f"-- {error}\n{sql}\n")
            outcome = {"error": f"{error} — query: {sql[:600]}", "error_name": "Athena.AthenaException"}
        self._athena_requests[token] = (sql, outcome)
        return outcome

    # --- run ----------------------------------------------------------------------------------

    def run(self, name: str, run_input: dict, on_event: Callable[[dict], None] | None = None,
            on_poll: Callable[[], None] | None = None, timeout_s: float = 3600) -> dict:
        """Execute the deployed state machine on `run_input`, calling `on_event` for each history
        event as it appears; its final description, with the events."""
        sfn = self.client("stepfunctions")
        arn = sfn.start_execution(stateMachineArn=self.deployment.state_machine_arn, name=name,
                                  input=json.dumps(run_input))["executionArn"]
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
