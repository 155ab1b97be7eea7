"""CloudFormation on the local cloud: moto's, completed where it falls short of what a CDK app needs.

`cdk deploy` (and `cdklocal deploy`) creates and updates stacks through change sets. moto 5.2.5
runs them, but:

- a stack created or updated from a change set publishes no exports (only CreateStack does), and
  cannot import any, so the next stack's `Fn::ImportValue` finds nothing;
- a resource type it has no model for is skipped with a warning, and the stack still reports
  CREATE_COMPLETE.

- a custom resource's provider Lambda is invoked in a Docker container, in a thread nobody waits
  for, so whatever reads the resource's attributes reads nothing;
- a function it creates has no layers;
- an update keeps an SSM-typed parameter's resolved value as if it were the parameter's name;
- a state machine it creates lives where the Step Functions API (with execution on) never looks;
- a KMS key it creates from a template with tags fails (its KMS API takes another tag shape);
- a bucket it creates ignores VersioningConfiguration (every version path goes unexercised).

`install(invoke)` publishes a stack's exports when its change set is executed, supplies the types
in SUPPLIED (created in moto's own backends, so the APIs answer for them as on AWS; an update
applies the new properties to the same resource), answers custom resources by invoking their
provider function synchronously with `invoke(function_arn, event)` (the local cloud runs the
function CloudFormation created), and refuses a change set that declares any other type moto
lacks, naming each, instead of skipping it. Nothing here knows the app: what is created comes
from the template.
"""

import json
import logging
import secrets
import string
import uuid
import warnings
from collections.abc import Callable
from typing import Any

from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing
from moto.cloudformation.custom_model import CustomModel
from moto.cloudformation.exceptions import CloudFormationError, ValidationError
from moto.core.common_models import CloudFormationModel

from localcloud import bedrock_agent


_log = logging.getLogger(__name__)


class _Supplied:
    """A resource the local cloud creates: its Ref is `physical_resource_id`, its attributes
    `attributes`. (A mixin: moto finds models among CloudFormationModel's direct subclasses.)"""

    kind = ""

    def __init__(self, name: str, physical_resource_id: str, attributes: dict[str, str] | None = None) -> None:
        self.name = name  # the physical name it was created under: updates keep it
        self.physical_resource_id = physical_resource_id
        self.attributes = attributes or {}

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return True

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name not in self.attributes:
            raise NotImplementedError(f"{self.kind} has no attribute {attribute_name} locally")
        return self.attributes[attribute_name]

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json, account_id,
                                        region_name):
        """Every creator applies properties to an existing resource of its name: an update is a create."""
        return cls.create_from_cloudformation_json(original_resource.name, cloudformation_json, account_id,
                                                   region_name)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name) -> None:
        """Deleting a supplied resource leaves it in place (like a retained resource)."""


def _model(kind: str, create) -> type[_Supplied]:
    """A model class for `kind` whose creation is `create(properties, name, account, region) -> (ref, attributes)`."""

    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        ref, attributes = create(cloudformation_json.get("Properties", {}), resource_name, account_id, region_name)
        return cls(resource_name, ref, attributes)

    return type(kind.replace("::", ""), (_Supplied, CloudFormationModel), {
        "__module__": __name__,
        "kind": kind,
        "cloudformation_type": staticmethod(lambda: kind),
        "create_from_cloudformation_json": classmethod(create_from_cloudformation_json),
    })


def _glue(account: str, region: str):
    from moto.glue.models import glue_backends
    return glue_backends[account][region]


def _glue_database(props: dict, name: str, account: str, region: str):
    glue, database_input = _glue(account, region), props["DatabaseInput"]
    if database_input["Name"] in glue.databases:
        glue.update_database(database_input["Name"], database_input)
    else:
        glue.create_database(database_input["Name"], database_input)
    return database_input["Name"], {}


def _glue_table(props: dict, name: str, account: str, region: str):
    glue, table_input = _glue(account, region), props["TableInput"]
    database = glue.get_database(props["DatabaseName"])
    if table_input["Name"] in database.tables:
        glue.update_table(props["DatabaseName"], table_input["Name"], table_input)
    else:
        glue.create_table(props["DatabaseName"], table_input["Name"], table_input)
    return table_input["Name"], {}


def _glue_security_configuration(props: dict, name: str, account: str, region: str):
    configuration_name = props.get("Name") or name
    if configuration_name not in _glue(account, region).security_configurations:
        _glue(account, region).create_security_configuration(configuration_name,
                                                             props.get("EncryptionConfiguration", {}))
    return configuration_name, {}


def _glue_crawler(props: dict, name: str, account: str, region: str):
    crawler_name = props.get("Name") or name
    if crawler_name not in _glue(account, region).crawlers:
        _glue(account, region).create_crawler(
            name=crawler_name, role=props["Role"], database_name=props.get("DatabaseName", ""),
            description=props.get("Description", ""), targets=props.get("Targets", {}),
            schedule=props.get("Schedule", {}).get("ScheduleExpression", ""), classifiers=props.get("Classifiers", []),
            table_prefix=props.get("TablePrefix", ""), schema_change_policy=props.get("SchemaChangePolicy", {}),
            recrawl_policy=props.get("RecrawlPolicy", {}), lineage_configuration={},
            configuration=props.get("Configuration", ""),
            crawler_security_configuration=props.get("CrawlerSecurityConfiguration", ""), tags={})
    return crawler_name, {}


def _glue_catalog_encryption(props: dict, name: str, account: str, region: str):
    _glue(account, region).put_data_catalog_encryption_settings(props.get("CatalogId"),
                                                                props["DataCatalogEncryptionSettings"])
    return props.get("CatalogId") or account, {}


def _athena_workgroup(props: dict, name: str, account: str, region: str):
    from moto.athena.models import athena_backends
    athena, workgroup = athena_backends[account][region], props.get("Name") or name
    athena.work_groups.pop(workgroup, None)  # an update replaces the configuration
    athena.create_work_group(workgroup, props.get("WorkGroupConfiguration", {}), props.get("Description", ""),
                             props.get("Tags", []))
    return workgroup, {}


def _bucket_policy(props: dict, name: str, account: str, region: str):
    from moto.s3.models import s3_backends
    s3_backends[account]["global"].put_bucket_policy(props["Bucket"], json.dumps(props["PolicyDocument"]).encode())
    return props["Bucket"], {}


def generated_secret_value(props: dict) -> str:
    """An AWS::SecretsManager::Secret's value as CloudFormation gives it: SecretString, or one
    generated as GenerateSecretString asks."""
    if props.get("SecretString") is not None:
        return props["SecretString"]
    generate = props.get("GenerateSecretString", {})
    alphabet = string.ascii_letters + string.digits
    if not generate.get("ExcludePunctuation"):
        alphabet += string.punctuation
    alphabet = "".join(c for c in alphabet if c not in generate.get("ExcludeCharacters", ""))
    return "".join(secrets.choice(alphabet) for _ in range(int(generate.get("PasswordLength", 32))))


def _secret(props: dict, name: str, account: str, region: str):
    from moto.secretsmanager.models import secretsmanager_backends
    backend, secret_name = secretsmanager_backends[account][region], props.get("Name") or name
    existing = backend.secrets.get(secret_name)
    if existing is not None:  # an update keeps the value
        return existing.arn, {}
    created = json.loads(backend.create_secret(
        name=secret_name, secret_string=generated_secret_value(props), secret_binary=None,
        description=props.get("Description"), tags=props.get("Tags"), kms_key_id=props.get("KmsKeyId"),
        client_request_token=None, replica_regions=[], force_overwrite=False))
    return created["ARN"], {}


def _security_group_egress(props: dict, name: str, account: str, region: str):
    from moto.ec2.exceptions import InvalidPermissionDuplicateError
    from moto.ec2.models import ec2_backends
    ec2, destination = ec2_backends[account][region], props.get("DestinationSecurityGroupId")
    prefix_list = props.get("DestinationPrefixListId")
    rule = dict(ip_protocol=props["IpProtocol"], from_port=str(props.get("FromPort", -1)),
                to_port=str(props.get("ToPort", -1)),
                ip_ranges=[{"CidrIp": props["CidrIp"]}] if props.get("CidrIp") else [],
                source_groups=[{"GroupId": destination}] if destination else None,
                prefix_list_ids=[{"PrefixListId": prefix_list}] if prefix_list else None)
    try:
        rules, _ = ec2.authorize_security_group_egress(props["GroupId"], **rule)
    except InvalidPermissionDuplicateError:  # an update of an unchanged rule
        ec2.revoke_security_group_egress(props["GroupId"], **rule)
        rules, _ = ec2.authorize_security_group_egress(props["GroupId"], **rule)
    if not rules:  # e.g. a destination read from a custom resource that never answered
        raise NotImplementedError(f"{name}: no destination resolved for the egress rule {props}")
    return rules[0].id, {"Id": rules[0].id}


def _topic_policy(props: dict, name: str, account: str, region: str):
    from moto.sns.models import sns_backends
    for topic in props["Topics"]:
        sns_backends[account][region].set_topic_attribute(topic, "policy", json.dumps(props["PolicyDocument"]))
    return name, {}


def _alarm(props: dict, name: str, account: str, region: str):
    from moto.cloudwatch.models import cloudwatch_backends
    alarm_name = props.get("AlarmName") or name
    alarm = cloudwatch_backends[account][region].put_metric_alarm(
        name=alarm_name, namespace=props.get("Namespace"), metric_name=props.get("MetricName"),
        comparison_operator=props["ComparisonOperator"], evaluation_periods=int(props["EvaluationPeriods"]),
        period=int(props.get("Period", 60)), threshold=float(props.get("Threshold", 0)),
        statistic=props.get("Statistic"), description=props.get("AlarmDescription", ""),
        dimensions=props.get("Dimensions", []), alarm_actions=props.get("AlarmActions", []),
        treat_missing_data=props.get("TreatMissingData"))
    return alarm_name, {"Arn": alarm.alarm_arn}


def _state_machine(props: dict, name: str, account: str, region: str):
    """In the backend the Step Functions API serves when it runs executions (moto's CloudFormation
    creates state machines in the other one)."""
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends
    backend = stepfunctions_parser_backends[account][region]
    definition = props.get("DefinitionString") or json.dumps(props["Definition"])
    for key, value in props.get("DefinitionSubstitutions", {}).items():
        definition = definition.replace("${" + key + "}", str(value))
    machine_name = props.get("StateMachineName") or name
    existing = next((m for m in backend.state_machines if m.name == machine_name), None)
    if existing is not None:
        backend.update_state_machine(existing.arn, definition=definition, role_arn=props["RoleArn"])
    else:
        existing = backend.create_state_machine(name=machine_name, definition=definition, roleArn=props["RoleArn"])
    return existing.arn, {"Arn": existing.arn, "Name": machine_name}


def _api_stage(props: dict, name: str, account: str, region: str):
    from moto.apigateway.models import apigateway_backends
    api = apigateway_backends[account][region].get_rest_api(props["RestApiId"])
    stage_name = props.get("StageName") or name
    api.stages.pop(stage_name, None)  # an update points the stage at the new deployment
    api.create_stage(stage_name, props["DeploymentId"], variables=props.get("Variables") or {},
                     description=props.get("Description", ""), cacheClusterEnabled=None, cacheClusterSize=None,
                     tags=None, tracing_enabled=props.get("TracingEnabled"))
    return stage_name, {}


def _api_request_validator(props: dict, name: str, account: str, region: str):
    from moto.apigateway.models import apigateway_backends
    validator = apigateway_backends[account][region].create_request_validator(
        props["RestApiId"], props.get("Name") or name, props.get("ValidateRequestBody", False),
        props.get("ValidateRequestParameters", False))
    return validator.id, {"RequestValidatorId": validator.id}


def _api_account(props: dict, name: str, account: str, region: str):
    """The account's setting of the role API Gateway writes execution logs with: the stack records
    it (its physical id is the account, as on AWS); no local log is written with it."""
    return account, {}


def _api_model(props: dict, name: str, account: str, region: str):
    from moto.apigateway.models import apigateway_backends
    model_name = props.get("Name") or name
    schema = props.get("Schema")
    apigateway_backends[account][region].create_model(
        props["RestApiId"], model_name, props.get("ContentType", "application/json"), props.get("Description", ""),
        schema if isinstance(schema, str) or schema is None else json.dumps(schema))
    return model_name, {}


SUPPLIED = {
    "AWS::Glue::Database": _glue_database,
    "AWS::Glue::Table": _glue_table,
    "AWS::Glue::SecurityConfiguration": _glue_security_configuration,
    "AWS::Glue::Crawler": _glue_crawler,
    "AWS::Glue::DataCatalogEncryptionSettings": _glue_catalog_encryption,
    "AWS::Athena::WorkGroup": _athena_workgroup,
    "AWS::S3::BucketPolicy": _bucket_policy,
    "AWS::SecretsManager::Secret": _secret,
    "AWS::EC2::SecurityGroupEgress": _security_group_egress,
    "AWS::SNS::TopicPolicy": _topic_policy,
    "AWS::CloudWatch::Alarm": _alarm,
    "AWS::StepFunctions::StateMachine": _state_machine,
    "AWS::ApiGateway::Stage": _api_stage,
    "AWS::ApiGateway::RequestValidator": _api_request_validator,
    "AWS::ApiGateway::Model": _api_model,
    "AWS::ApiGateway::Account": _api_account,
    "AWS::S3Vectors::VectorBucket": bedrock_agent.vector_bucket,
    "AWS::S3Vectors::Index": bedrock_agent.vector_index,
    "AWS::Bedrock::KnowledgeBase": bedrock_agent.knowledge_base,
    "AWS::Bedrock::DataSource": bedrock_agent.data_source,
}
# Types with nothing to create: CloudFormation itself records them and nothing reads them back.
RECORDED_ONLY = ("AWS::CDK::Metadata",)


Invoke = Callable[[str, dict], dict | None]  # (function ARN, event) -> what it sent to the response URL
RESPONSE_URL = "https://cloudformation-response.localcloud.invalid/"  # node_runtime.js answers it


class ChangeSetNotFound(CloudFormationError):
    code = "ChangeSetNotFound"


class CustomResourceFailed(Exception):
    pass


class LocalCustomResource(CustomModel):
    """A custom resource answered by its provider function, synchronously: the resources that read
    its attributes are created after it has answered (moto invokes it in a thread and moves on)."""

    invoke: Invoke = staticmethod(lambda arn, event: None)

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        properties = cloudformation_json["Properties"]
        event = {"RequestType": "Create", "StackId": kwargs["StackId"], "LogicalResourceId": kwargs["LogicalId"],
                 "ResourceType": kwargs["ResourceType"], "ResourceProperties": properties}
        response = cls._ask(properties["ServiceToken"], event)
        resource = cls(region_name, event["RequestId"], kwargs["LogicalId"],
                       response.get("PhysicalResourceId") or resource_name)
        resource.stack_id, resource.properties = kwargs["StackId"], properties
        resource.set_data(response.get("Data") or {})
        return resource

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json, account_id,
                                        region_name):
        properties = cloudformation_json["Properties"]
        event = {"RequestType": "Update", "StackId": original_resource.stack_id,
                 "LogicalResourceId": original_resource.logical_id, "ResourceType": "Custom::Resource",
                 "PhysicalResourceId": original_resource.resource_name, "ResourceProperties": properties,
                 "OldResourceProperties": original_resource.properties}
        response = cls._ask(properties["ServiceToken"], event)
        original_resource.resource_name = response.get("PhysicalResourceId") or original_resource.resource_name
        original_resource.properties = properties
        original_resource.set_data(response.get("Data") or {})
        return original_resource

    @classmethod
    def _ask(cls, service_token: str, event: dict) -> dict:
        event.update(ServiceToken=service_token, RequestId=str(uuid.uuid4()),
                     ResponseURL=RESPONSE_URL + event["LogicalResourceId"])
        response = cls.invoke(service_token, event)
        if response is None:
            raise CustomResourceFailed(f"{event['LogicalResourceId']}: its provider {service_token} sent no response")
        if response.get("Status") != "SUCCESS":
            raise CustomResourceFailed(f"{event['LogicalResourceId']}: {response.get('Reason', 'failed')}")
        return response


def install(invoke: Invoke | None = None) -> None:
    """Complete moto's CloudFormation (call before the server takes requests); `invoke` answers
    custom resources (without it, they fail: no provider can run)."""
    if invoke is not None:
        LocalCustomResource.invoke = staticmethod(invoke)
    parsing.CustomModel = LocalCustomResource
    for kind in RECORDED_ONLY:  # moto warns that it skips them; nothing is lost
        warnings.filterwarnings("ignore", message=f"Tried to parse {kind} ")
        logging.getLogger("moto").addFilter(lambda record, kind=kind: kind not in record.getMessage())
    if getattr(parsing, "_localcloud_installed", False):
        return
    for kind, create in SUPPLIED.items():
        _model(kind, create)
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()
    _refuse_unknown_types()
    _publish_exports_after_change_sets()
    _missing_change_sets_answered_as_on_aws()
    _functions_keep_layers_and_architectures()
    _ssm_parameters_keep_their_names()
    _kms_keys_take_template_tags()
    _api_deployments_have_ids()
    _api_methods_keep_request_checks()
    _change_sets_add_in_dependency_order()
    _resources_made_on_demand_wait_for_depends_on()
    _task_definitions_keep_their_roles()
    _buckets_keep_their_versioning()
    parsing._localcloud_installed = True


def unsupported_types(template: dict) -> list[str]:
    """'LogicalId: Type' of each resource neither moto nor this module creates."""
    known = parsing.get_model_map()
    return [f"{logical_id}: {resource['Type']}" for logical_id, resource in template.get("Resources", {}).items()
            if resource["Type"] not in known and not resource["Type"].startswith("Custom::")
            and resource["Type"] not in RECORDED_ONLY and resource["Type"] not in parsing.NULL_MODELS]


def _refuse_unknown_types() -> None:
    """Refuse a change set whose template declares a type nobody creates, naming each, before
    anything is created (moto would skip them and report success)."""
    create = cfn_models.CloudFormationBackend.create_change_set

    def create_change_set(self, stack_name: str, change_set_name: str, template: str, *args, **kwargs):
        missing = unsupported_types(cfn_models.Stack.parse_template(template))
        if missing:
            raise ValidationError(stack_name, message=f"{stack_name}: the local cloud cannot create "
                                  + "; ".join(missing) + " (neither moto nor localcloud/cloudformation.py supplies them)")
        return create(self, stack_name, change_set_name, template, *args, **kwargs)

    cfn_models.CloudFormationBackend.create_change_set = create_change_set


def _task_definitions_keep_their_roles() -> None:
    """moto's CloudFormation registers a task definition without its TaskRoleArn and
    ExecutionRoleArn (an update without them too): the task then runs as nobody, where on AWS its
    code runs as its task role."""
    from moto.ecs.models import TaskDefinition

    for name in ("create_from_cloudformation_json", "update_from_cloudformation_json"):
        method = getattr(TaskDefinition, name).__func__

        def with_roles(cls, *args, method=method, **kwargs):
            definition = method(cls, *args, **kwargs)
            properties = next(a for a in args if isinstance(a, dict) and "Properties" in a)["Properties"]
            for attribute, key in (("task_role_arn", "TaskRoleArn"), ("execution_role_arn", "ExecutionRoleArn")):
                if properties.get(key):
                    setattr(definition, attribute, properties[key])
            return definition

        setattr(TaskDefinition, name, classmethod(with_roles))


def _buckets_keep_their_versioning() -> None:
    """A bucket the template versions is versioned, from its creation and after an update."""
    from moto.s3.models import FakeBucket, s3_backends

    for name in ("create_from_cloudformation_json", "update_from_cloudformation_json"):
        method = getattr(FakeBucket, name).__func__

        def with_versioning(cls, *args, method=method, **kwargs):
            bucket = method(cls, *args, **kwargs)
            properties = next(a for a in args if isinstance(a, dict) and "Properties" in a)["Properties"]
            status = (properties.get("VersioningConfiguration") or {}).get("Status")
            if status:
                s3_backends[bucket.account_id]["global"].put_bucket_versioning(bucket.name, status)
            return bucket

        setattr(FakeBucket, name, classmethod(with_versioning))


def _functions_keep_layers_and_architectures() -> None:
    """moto's CloudFormation creates a function without its Layers and Architectures, and an update
    fails on a layer of the same template (a Ref arrives as the layer object, not its ARN)."""
    from moto.awslambda.models import LambdaFunction

    create = LambdaFunction.create_from_cloudformation_json.__func__
    update = LambdaFunction.update_from_cloudformation_json.__func__

    def with_layer_arns(cloudformation_json: dict) -> dict:
        properties = dict(cloudformation_json["Properties"])
        if properties.get("Layers"):
            properties["Layers"] = [getattr(layer, "arn", layer) for layer in properties["Layers"]]
        return {**cloudformation_json, "Properties": properties}

    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        cloudformation_json = with_layer_arns(cloudformation_json)
        function = create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        properties = cloudformation_json["Properties"]
        if properties.get("Layers"):
            function.layers = function._get_layers_data(properties["Layers"])
        if properties.get("Architectures"):
            function.architectures = properties["Architectures"]
        return function

    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json, account_id,
                                        region_name):
        return update(cls, original_resource, new_resource_name, with_layer_arns(cloudformation_json), account_id,
                      region_name)

    LambdaFunction.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)
    LambdaFunction.update_from_cloudformation_json = classmethod(update_from_cloudformation_json)


def _ssm_parameters_keep_their_names() -> None:
    """A parameter of type AWS::SSM::Parameter::Value<…> keeps the parameter's name as its value
    (CloudFormation resolves it on every deploy); moto keeps the resolved value, so an update that
    uses the previous value (cdk's BootstrapVersion) looks up an SSM parameter named "30"."""
    resolved = cfn_models.Stack.stack_parameters.fget

    def stack_parameters(self) -> dict[str, Any]:
        values = dict(resolved(self))
        for key, slot in self.resource_map._template.get("Parameters", {}).items():
            if key in values and str(slot.get("Type", "")).startswith("AWS::SSM::Parameter::"):
                values[key] = (self.resource_map.input_parameters or {}).get(key) or slot.get("Default")
        return values

    cfn_models.Stack.stack_parameters = property(stack_parameters)


def _kms_keys_take_template_tags() -> None:
    """A KMS key's template tags are {Key, Value}; moto hands them to its KMS API, which takes
    {TagKey, TagValue}, and fails on any tagged key (CloudFormation creates it tagged)."""
    from moto.kms.models import Key
    create = Key.create_from_cloudformation_json.__func__

    def create_with_tags(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        properties = cloudformation_json.get("Properties", {})
        tags = [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in properties.get("Tags", [])]
        converted = {**cloudformation_json, "Properties": {**properties, "Tags": tags}}
        return create(cls, resource_name, converted, account_id, region_name, **kwargs)

    Key.create_from_cloudformation_json = classmethod(create_with_tags)


def _api_deployments_have_ids() -> None:
    """`Ref` of an AWS::ApiGateway::Deployment is its id (a stage names its deployment by it);
    moto's model has no physical id, so the Ref gave the object itself."""
    from moto.apigateway.models import Deployment
    Deployment.physical_resource_id = property(lambda self: self.id)


def _api_methods_keep_request_checks() -> None:
    """A method keeps its request validator and models (moto's model drops both), which the local
    REST API serving applies to bodies as API Gateway does."""
    from moto.apigateway.models import Method
    create = Method.create_from_cloudformation_json.__func__

    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        method = create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        properties = cloudformation_json["Properties"]
        method.request_validator_id = properties.get("RequestValidatorId")
        method.request_models = properties.get("RequestModels")
        return method

    Method.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)


def _change_sets_add_in_dependency_order() -> None:
    """A change set creates its new resources after what each names in DependsOn, as CloudFormation
    does (moto's change sets create them in template order: an API deployment before its methods)."""
    diff = parsing.ResourceMap.build_resource_diff

    def build_resource_diff(self, other_template: dict, parameters: dict | None = None) -> dict:
        actions = diff(self, other_template, parameters)
        actions["Add"] = dependency_order(other_template["Resources"], actions["Add"])
        return actions

    parsing.ResourceMap.build_resource_diff = build_resource_diff


def _resources_made_on_demand_wait_for_depends_on() -> None:
    """moto creates a resource the moment another one references it (a security group rule reading
    a custom resource's attribute), skipping what it DependsOn: a custom resource then ran before the
    policy that lets its function act. CloudFormation creates the DependsOn resources first."""
    getitem = parsing.ResourceMap.__getitem__

    def __getitem__(self, key: str):
        if key not in self._parsed_resources:
            depends_on = (self._resource_json_map.get(key) or {}).get("DependsOn", [])
            for dependency in [depends_on] if isinstance(depends_on, str) else depends_on:
                if dependency in self._resource_json_map:
                    self[dependency]
        return getitem(self, key)

    parsing.ResourceMap.__getitem__ = __getitem__


def dependency_order(resources: dict, names: list[str]) -> list[str]:
    """`names` with every resource after the ones it DependsOn (otherwise in the given order)."""
    ordered, placed = [], set()

    def place(name: str) -> None:
        if name in placed or name not in names:
            return
        placed.add(name)
        depends_on = resources[name].get("DependsOn", [])
        for dependency in [depends_on] if isinstance(depends_on, str) else depends_on:
            place(dependency)
        ordered.append(name)

    for name in names:
        place(name)
    return ordered


def _change_set_key(backend, change_set_name: str, stack_name: str | None = None) -> str | None:
    """The key (ARN) of the change set named by ARN or by name (in `stack_name`, when given)."""
    if change_set_name in backend.change_sets:
        return change_set_name
    return next((key for key, change_set in backend.change_sets.items() if change_set.change_set_name == change_set_name
                 and stack_name in (None, change_set.stack_name, change_set.stack_id)), None)


def _publish_exports_after_change_sets() -> None:
    """Publish the exports of a stack whose change set ran; a change set that fails marks its stack
    failed with the reason (as CloudFormation does; moto answers 500 and leaves it in progress).
    An executed change set is gone, as on AWS: moto finds change sets by name across all stacks,
    and every `cdk deploy` names its own `cdk-deploy-change-set`."""
    execute = cfn_models.CloudFormationBackend.execute_change_set

    def execute_change_set(self, change_set_name: str, stack_name: str | None = None) -> Any:
        key = _change_set_key(self, change_set_name, stack_name)
        if key is None:
            return execute(self, change_set_name, stack_name)  # moto's own error
        change_set = self.change_sets[key]
        stack = self.stacks[change_set.stack_id]
        # A stack made for a change set starts without the region's exports: Fn::ImportValue finds nothing.
        stack.cross_stack_resources = stack.resource_map.cross_stack_resources = self.exports
        try:
            result = execute(self, key, stack_name)
        except Exception as error:  # noqa: BLE001 - any failure of any resource fails the stack
            _log.warning("%s: change set failed", stack.name, exc_info=True)
            stack.status = f"{change_set.change_set_type}_FAILED"
            stack._add_stack_event(stack.status, resource_status_reason=f"{type(error).__name__}: {error}")
            return None
        finally:
            self.change_sets.pop(key, None)
        stack._parse_template()  # the outputs are the change set's template's, of the resources it made
        stack.output_map = stack._create_output_map()
        for export in stack.exports:
            self.exports[export.name] = export
        return result

    cfn_models.CloudFormationBackend.execute_change_set = execute_change_set


def _missing_change_sets_answered_as_on_aws() -> None:
    """Deleting a change set that does not exist succeeds and describing one is ChangeSetNotFound
    (`cdk deploy` deletes its old change set, then waits for exactly that error); moto answers a
    500 and a ValidationError."""
    delete, describe = cfn_models.CloudFormationBackend.delete_change_set, cfn_models.CloudFormationBackend.describe_change_set

    def delete_change_set(self, change_set_name: str) -> None:
        key = _change_set_key(self, change_set_name)
        if key is not None:
            delete(self, key)

    def describe_change_set(self, change_set_name: str):
        key = _change_set_key(self, change_set_name)
        if key is None:
            raise ChangeSetNotFound(f"ChangeSet [{change_set_name}] does not exist")
        return describe(self, key)

    cfn_models.CloudFormationBackend.delete_change_set = delete_change_set
    cfn_models.CloudFormationBackend.describe_change_set = describe_change_set
