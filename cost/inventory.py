"""What the synthesized app would bill for: its resources, read from the cloud assembly.

Every resource type the templates declare is either priced (a rule in `cost.model`) or listed in
FREE with why it costs nothing by itself; `unpriced_types` names any other, so a new type cannot
slip into the app unpriced.
"""

from dataclasses import dataclass, field
from pathlib import Path

from deployment.assembly import read_stacks
from deployment.definition import load_definition, state_machines, walk

FREE = {
    "AWS::CDK::Metadata": "synthesis metadata",
    "AWS::IAM::Role": "IAM is free", "AWS::IAM::Policy": "IAM is free", "AWS::IAM::ManagedPolicy": "IAM is free",
    "AWS::Lambda::Permission": "a resource policy",
    "AWS::Lambda::LayerVersion": "layer storage is within the free 75 GB",
    "AWS::EC2::VPC": "a VPC is free", "AWS::EC2::Subnet": "free", "AWS::EC2::RouteTable": "free",
    "AWS::EC2::SubnetRouteTableAssociation": "free", "AWS::EC2::SecurityGroup": "free",
    "AWS::EC2::SecurityGroupIngress": "free", "AWS::EC2::SecurityGroupEgress": "free",
    "AWS::EC2::FlowLog": "billed as the log group's ingestion (priced there)",
    "Custom::VpcRestrictDefaultSG": "a deploy-time Lambda call", "Custom::AWS": "a deploy-time Lambda call",
    "AWS::Glue::Database": "catalog objects: the first million are free",
    "AWS::Glue::Table": "catalog objects: the first million are free",
    "AWS::Glue::SecurityConfiguration": "free", "AWS::Glue::DataCatalogEncryptionSettings": "free",
    "AWS::Glue::Crawler": "not scheduled: billed only when someone starts it (DPU-hours)",
    "AWS::S3::BucketPolicy": "free", "AWS::SNS::TopicPolicy": "free",
    "AWS::Events::Rule": "scheduled rules are free", "AWS::ECS::Cluster": "a Fargate cluster is free",
    "AWS::ApiGateway::Account": "free", "AWS::ApiGateway::Deployment": "free", "AWS::ApiGateway::Stage": "free",
    "AWS::ApiGateway::Resource": "free", "AWS::ApiGateway::Method": "free (requests are priced on the API)",
    "AWS::ApiGateway::RequestValidator": "free", "AWS::ApiGateway::Model": "free",
    "AWS::Bedrock::DataSource": "its sync is priced on the knowledge base (embedding tokens)",
}


@dataclass(frozen=True)
class Resource:
    stack: str
    logical_id: str
    type: str
    properties: dict


@dataclass
class Inventory:
    resources: list[Resource] = field(default_factory=list)
    lambda_states: dict[str, str] = field(default_factory=dict)  # state name -> function logical id
    athena_states: list[str] = field(default_factory=list)  # states that run a CTAS (billed by bytes)
    task_states: dict[str, str] = field(default_factory=dict)  # state name -> task definition logical id
    fanned_out: set[str] = field(default_factory=set)  # states run once per shard (inside a Map's processor)
    definition: dict = field(default_factory=dict)  # the state machine's

    def of_type(self, kind: str) -> list[Resource]:
        return [r for r in self.resources if r.type == kind]

    def by_id(self, logical_id: str) -> Resource:
        return next(r for r in self.resources if r.logical_id == logical_id)


def read_inventory(assembly: Path) -> Inventory:
    inventory = Inventory()
    for stack in read_stacks(assembly):
        for logical_id, resource in stack.resources.items():
            inventory.resources.append(Resource(stack.name, logical_id, resource["Type"],
                                                resource.get("Properties", {})))
        for machine in state_machines(stack.template).values():
            inventory.definition = load_definition(machine)
            _states(inventory.definition, inventory)
    return inventory


def unpriced_types(inventory: Inventory, priced: set[str]) -> list[str]:
    return sorted({r.type for r in inventory.resources} - priced - set(FREE))


def _states(definition: dict, inventory: Inventory) -> None:
    """Which function, task definition or Athena statement each Task state runs."""
    maps = {name for _, name, state in walk(definition) if state["Type"] == "Map"}
    for path, name, state in walk(definition):
        resource, parameters = str(state.get("Resource", "")), state.get("Parameters", {})
        if maps & set(path):
            inventory.fanned_out.add(name)
        if resource.endswith(":lambda:invoke"):
            inventory.lambda_states[name] = _logical_id(parameters.get("FunctionName", ""))
        elif resource.endswith(":ecs:runTask.sync"):
            inventory.task_states[name] = _logical_id(parameters.get("TaskDefinition", ""))
        elif resource.endswith(":athena:startQueryExecution.sync"):
            query = parameters.get("QueryString") or parameters.get("QueryString.$", "")
            if "CREATE TABLE" in query:
                inventory.athena_states.append(name)


def _logical_id(placeholder: str) -> str:
    """'${IngestFunction83726A21.Arn}' -> 'IngestFunction83726A21'."""
    return placeholder.removeprefix("${").split(".")[0].split("}")[0]
