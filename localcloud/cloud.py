"""The embedded local cloud: a moto server holding the synthesized app, running its state machine.

`LocalCloud.start()` starts moto on a loopback port with Step Functions execution enabled and the
local executors installed; `deploy(assembly)` creates the templates' resources (buckets, table,
topic, Glue databases, the state machine from its synthesized definition) and registers the
Lambda handlers and ECS task commands the executors run; `run()` starts an execution and
follows it through the execution history.
"""

import json
import os
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import boto3

from localcloud import cloudformation, executors, policies
from localcloud.assembly import AssemblyError, StackArtifact, read_stacks
from localcloud.athena_duckdb import AthenaOnDuckDB, GlueCatalog, inside
from localcloud.definition import load_definition, state_machines, unsupported

ACCOUNT, REGION = "123456789012", "us-east-1"  # moto's default account
STATE_MACHINE_NAME = "engagement-ml-pipeline"
PSEUDO = {"AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com",
          "AWS::StackName": "local", "AWS::NoValue": None}


class DeployError(AssemblyError):
    """The synthesized app uses something the local cloud cannot create or run."""


CREATED = ("AWS::S3::Bucket", "AWS::Glue::Database", "AWS::Glue::Table", "AWS::DynamoDB::Table", "AWS::SNS::Topic",
           "AWS::SecretsManager::Secret", "AWS::Lambda::Function", "AWS::ECS::TaskDefinition",
           "AWS::StepFunctions::StateMachine")
# Access control, encryption, networking (and the deploy-time prefix-list lookups it uses),
# monitoring, schedules and the crawler act around the pipeline, not in it.
NOT_NEEDED = ("AWS::IAM::", "AWS::KMS::", "AWS::EC2::", "AWS::Logs::", "AWS::CloudWatch::", "AWS::Events::",
              "AWS::CDK::Metadata", "AWS::S3::BucketPolicy", "AWS::SNS::TopicPolicy", "AWS::Glue::Crawler",
              "AWS::Glue::SecurityConfiguration", "AWS::Glue::DataCatalogEncryptionSettings",
              "AWS::Athena::WorkGroup", "AWS::ECS::Cluster", "AWS::Lambda::LayerVersion",
              "Custom::VpcRestrictDefaultSG", "Custom::AWS")


def unsupported_resources(stacks: list[StackArtifact]) -> list[str]:
    return [f"{stack.name}/{logical_id}: {resource['Type']}" for stack in stacks
            for logical_id, resource in stack.resources.items()
            if resource["Type"] not in CREATED and not resource["Type"].startswith(NOT_NEEDED)]


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


@dataclass
class Deployment:
    assembly: Path
    values: dict = field(default_factory=dict)  # (stack, logical id) -> {"Ref": …, attribute: …}
    exports: dict = field(default_factory=dict)  # export name -> value
    state_machine_arn: str | None = None

    def resolve(self, stack: str, value):
        if isinstance(value, list):
            return [self.resolve(stack, v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1 or not next(iter(value)).startswith(("Ref", "Fn::")):
            return {k: self.resolve(stack, v) for k, v in value.items()}
        [(function, argument)] = value.items()
        if function == "Ref":
            return PSEUDO[argument] if argument in PSEUDO else self._value(stack, argument, "Ref")
        if function == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            return self._value(stack, logical_id, attribute)
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(str(self.resolve(stack, p)) for p in parts)
        if function == "Fn::Select":
            index, items = argument
            return self.resolve(stack, items)[int(index)]
        if function == "Fn::GetAZs":
            return [f"{REGION}a", f"{REGION}b"]
        if function == "Fn::ImportValue":
            return self.exports[self.resolve(stack, argument)]
        if function == "Fn::Sub":
            text = argument if isinstance(argument, str) else argument[0]
            return re.sub(r"\$\{([^}]+)\}", lambda m: str(self.resolve(stack, {"Ref": m.group(1)})), text)
        raise DeployError(f"{stack}: {function} is not resolved locally (nor by LocalStack or moto)")

    def _value(self, stack: str, logical_id: str, attribute: str):
        values = self.values.get((stack, logical_id))
        if values is None:
            raise DeployError(f"{stack}: reference to unknown resource {logical_id}")
        return values.get(attribute, values["Ref"])


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

        default_user_config["stepfunctions"] = {"execute_state_machine": True}
        cloudformation.install()
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
        return self.endpoint

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def client(self, service: str):
        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id="local", aws_secret_access_key="local")

    # --- deploy -------------------------------------------------------------------------------

    def deploy(self, assembly: Path) -> Deployment:
        deployment = Deployment(assembly=assembly)
        stacks = read_stacks(assembly)
        unknown = unsupported_resources(stacks)
        if unknown:
            raise DeployError("the local cloud cannot create these resources (teach localcloud/cloud.py to create "
                              "them, or list them as not needed locally):\n  " + "\n  ".join(unknown))
        for stack in stacks:
            self._name_resources(deployment, stack)
        for stack in stacks:  # in deployment order: a stack's exports once its resources exist
            self._create_resources(deployment, stack)
            for output in stack.template.get("Outputs", {}).values():
                if "Export" in output:
                    deployment.exports[deployment.resolve(stack.name, output["Export"]["Name"])] = \
                        deployment.resolve(stack.name, output["Value"])
        self._register_athena()
        self._create_state_machine(deployment, stacks)
        self.deployment = deployment
        return deployment

    def _name_resources(self, deployment: Deployment, stack: StackArtifact) -> None:
        for logical_id, resource in stack.resources.items():
            kind, props = resource["Type"], resource.get("Properties", {})
            ref, attrs = f"{logical_id}", {}
            if kind == "AWS::S3::Bucket":
                ref = re.sub(r"[^a-z0-9-]", "-", f"{stack.name}-{logical_id}".lower())[:63].strip("-")
                attrs = {"Arn": f"arn:aws:s3:::{ref}"}
            elif kind == "AWS::Lambda::Function":
                attrs = {"Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{logical_id}"}
            elif kind == "AWS::ECS::TaskDefinition":
                ref = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{logical_id}:1"
            elif kind in ("AWS::SNS::Topic", "AWS::SecretsManager::Secret"):
                service = "sns" if kind.startswith("AWS::SNS") else "secretsmanager"
                ref = f"arn:aws:{service}:{REGION}:{ACCOUNT}:{logical_id}"
            elif kind == "AWS::Athena::WorkGroup":
                ref = props.get("Name", logical_id)
            elif kind == "AWS::StepFunctions::StateMachine":
                ref = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STATE_MACHINE_NAME}"
                attrs = {"Name": STATE_MACHINE_NAME}
            attrs.setdefault("Arn", ref if ref.startswith("arn:") else
                             f"arn:aws:{kind.split('::')[1].lower()}:{REGION}:{ACCOUNT}:{logical_id}")
            deployment.values[(stack.name, logical_id)] = {"Ref": ref, **attrs}

    def _create_resources(self, deployment: Deployment, stack: StackArtifact) -> None:
        s3, glue, dynamodb, sns = (self.client(s) for s in ("s3", "glue", "dynamodb", "sns"))
        # Databases before their tables, whatever the template's order.
        resources = sorted(stack.resources.items(), key=lambda r: r[1]["Type"] == "AWS::Glue::Table")
        for logical_id, resource in resources:
            kind, props = resource["Type"], resource.get("Properties", {})
            values = deployment.values[(stack.name, logical_id)]
            if kind == "AWS::S3::Bucket":
                s3.create_bucket(Bucket=values["Ref"])
                s3.put_bucket_versioning(Bucket=values["Ref"], VersioningConfiguration={"Status": "Enabled"})
            elif kind == "AWS::Glue::Database":
                name = props["DatabaseInput"]["Name"]
                try:
                    glue.create_database(DatabaseInput={"Name": name})
                except glue.exceptions.AlreadyExistsException:
                    pass
            elif kind == "AWS::Glue::Table":
                GlueCatalog(glue).put(deployment.resolve(stack.name, props["DatabaseName"]),
                                      deployment.resolve(stack.name, props["TableInput"]))
            elif kind == "AWS::DynamoDB::Table":
                try:
                    dynamodb.create_table(TableName=values["Ref"], KeySchema=props["KeySchema"],
                                          AttributeDefinitions=props["AttributeDefinitions"],
                                          BillingMode="PAY_PER_REQUEST")
                except dynamodb.exceptions.ResourceInUseException:
                    pass
            elif kind == "AWS::SNS::Topic":
                values["Ref"] = values["Arn"] = sns.create_topic(Name=logical_id)["TopicArn"]
            elif kind == "AWS::SecretsManager::Secret":
                values["Ref"] = values["Arn"] = self.client("secretsmanager").create_secret(
                    Name=logical_id, SecretString=cloudformation.generated_secret_value(props))["ARN"]
            elif kind == "AWS::Lambda::Function" and props.get("Handler", "").startswith("handlers."):
                self._register_function(deployment, stack, logical_id, resource)
            elif kind == "AWS::ECS::TaskDefinition":
                [container] = props["ContainerDefinitions"]
                # The state machine names the task by family (CDK's default) or by ARN.
                executors.REGISTRY.tasks[values["Ref"]] = executors.REGISTRY.tasks[props.get("Family", "")] = \
                    executors.LocalTask(
                    command=container["Command"],
                    environment={e["Name"]: str(deployment.resolve(stack.name, e["Value"]))
                                 for e in container.get("Environment", [])} | {"MPLCONFIGDIR": str(self.state_dir / "mpl")},
                    memory_mb=int(props.get("Memory") or container.get("Memory") or 512),
                )

    def _register_function(self, deployment, stack, logical_id, resource) -> None:
        props = resource["Properties"]
        asset = resource.get("Metadata", {}).get("aws:asset:path")
        if not asset:
            raise DeployError(f"{stack.name}/{logical_id}: no staged code asset (synthesize with `make synth`)")
        environment = {k: str(deployment.resolve(stack.name, v))
                       for k, v in props.get("Environment", {}).get("Variables", {}).items()}
        function = executors.LocalFunction(name=logical_id, handler=props["Handler"],
                                           code_dir=(deployment.assembly / asset).resolve(), environment=environment,
                                           memory_mb=int(props.get("MemorySize", 128)), timeout_s=int(props.get("Timeout", 3)))
        executors.REGISTRY.functions[deployment.values[(stack.name, logical_id)]["Arn"]] = function
        executors.REGISTRY.functions[logical_id] = function

    def _register_athena(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        executors.REGISTRY.athena = AthenaOnDuckDB(MotoS3Store(self.client("s3"), self.state_dir / "athena"),
                                                   GlueCatalog(self.client("glue")),
                                                   database=self.state_dir / "athena.duckdb")

    def _create_state_machine(self, deployment: Deployment, stacks: list[StackArtifact]) -> None:
        found = [(stack, machine) for stack in stacks for machine in state_machines(stack.template).values()]
        if len(found) != 1:
            raise DeployError(f"expected one state machine in the app, found {len(found)}")
        stack, machine = found[0]
        definition = load_definition(machine, lambda reference: str(deployment.resolve(stack.name, reference)))
        problems = unsupported(definition)
        if problems:
            raise DeployError("the state machine uses what the local cloud cannot run:\n  " + "\n  ".join(problems))
        definition = _without_escaped_quotes(definition)
        sfn = self.client("stepfunctions")
        deployment.state_machine_arn = sfn.create_state_machine(
            name=STATE_MACHINE_NAME, definition=json.dumps(definition),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/StateMachineRole")["stateMachineArn"]

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


def _without_escaped_quotes(value):
    """moto's intrinsic-function lexer ends a string literal at an escaped quote (\\'), which
    States.Format allows and Athena statements are full of; the Athena executor turns the
    stand-in back into a quote."""
    if isinstance(value, dict):
        return {k: _without_escaped_quotes(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_escaped_quotes(v) for v in value]
    if isinstance(value, str) and value.startswith("States.Format("):
        return value.replace("\\'", executors.QUOTE)
    return value


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
