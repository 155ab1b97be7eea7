"""CloudFormation on the local cloud: moto's, completed where it falls short of what a CDK app needs.

`cdk deploy` (and `cdklocal deploy`) creates and updates stacks through change sets. moto 5.2.5
runs them, but:

- a stack created or updated from a change set publishes no exports (only CreateStack does), so
  the next stack's `Fn::ImportValue` finds nothing;
- a resource type it has no model for is skipped with a warning, and the stack still reports
  CREATE_COMPLETE.

`install()` publishes a stack's exports when its change set is executed, supplies the types in
SUPPLIED (created in moto's own backends, so the APIs answer for them as on AWS), and makes any
other type moto lacks fail the deploy by name instead of vanishing. Nothing here knows the app:
what is created comes from the template.
"""

import json
import secrets
import string
from typing import Any

from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing
from moto.core.common_models import CloudFormationModel


class UnsupportedResource(Exception):
    """A template declares a type that neither moto nor the local cloud can create."""


class _Supplied:
    """A resource the local cloud creates: its Ref is `physical_resource_id`, its attributes
    `attributes`. (A mixin: moto finds models among CloudFormationModel's direct subclasses.)"""

    kind = ""

    def __init__(self, physical_resource_id: str, attributes: dict[str, str] | None = None) -> None:
        self.physical_resource_id = physical_resource_id
        self.attributes = attributes or {}

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return True

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name not in self.attributes:
            raise UnsupportedResource(f"{self.kind} has no attribute {attribute_name} locally")
        return self.attributes[attribute_name]

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json, account_id,
                                        region_name):
        cls.delete_from_cloudformation_json(original_resource.physical_resource_id, cloudformation_json, account_id,
                                            region_name)
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name) -> None:
        """Deleting a supplied resource leaves it in place (like a retained resource)."""


def _model(kind: str, create) -> type[_Supplied]:
    """A model class for `kind` whose creation is `create(properties, name, account, region) -> (ref, attributes)`."""

    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        ref, attributes = create(cloudformation_json.get("Properties", {}), resource_name, account_id, region_name)
        return cls(ref, attributes)

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
    database_input = props["DatabaseInput"]
    if database_input["Name"] not in _glue(account, region).databases:
        _glue(account, region).create_database(database_input["Name"], database_input)
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
    workgroup = props.get("Name") or name
    athena_backends[account][region].create_work_group(workgroup, props.get("WorkGroupConfiguration", {}),
                                                       props.get("Description", ""), props.get("Tags", []))
    return workgroup, {}


def _bucket_policy(props: dict, name: str, account: str, region: str):
    from moto.s3.models import s3_backends
    s3_backends[account]["global"].put_bucket_policy(props["Bucket"], json.dumps(props["PolicyDocument"]).encode())
    return props["Bucket"], {}


def _secret(props: dict, name: str, account: str, region: str):
    """A secret with the value CloudFormation would give it (SecretString, or one generated as
    GenerateSecretString asks)."""
    from moto.secretsmanager.models import secretsmanager_backends
    value = props.get("SecretString")
    if value is None:
        generate = props.get("GenerateSecretString", {})
        alphabet = string.ascii_letters + string.digits
        if not generate.get("ExcludePunctuation"):
            alphabet += string.punctuation
        alphabet = "".join(c for c in alphabet if c not in generate.get("ExcludeCharacters", ""))
        value = "".join(secrets.choice(alphabet) for _ in range(int(generate.get("PasswordLength", 32))))
    backend = secretsmanager_backends[account][region]
    created = json.loads(backend.create_secret(
        name=props.get("Name") or name, secret_string=value, secret_binary=None,
        description=props.get("Description"), tags=props.get("Tags"), kms_key_id=props.get("KmsKeyId"),
        client_request_token=None, replica_regions=[], force_overwrite=False))
    return created["ARN"], {}


SUPPLIED = {
    "AWS::Glue::Database": _glue_database,
    "AWS::Glue::Table": _glue_table,
    "AWS::Glue::SecurityConfiguration": _glue_security_configuration,
    "AWS::Glue::Crawler": _glue_crawler,
    "AWS::Glue::DataCatalogEncryptionSettings": _glue_catalog_encryption,
    "AWS::Athena::WorkGroup": _athena_workgroup,
    "AWS::S3::BucketPolicy": _bucket_policy,
    "AWS::SecretsManager::Secret": _secret,
}
# Types with nothing to create: CloudFormation itself records them and nothing reads them back.
RECORDED_ONLY = ("AWS::CDK::Metadata",)


def install() -> None:
    """Complete moto's CloudFormation (idempotent; call before the server takes requests)."""
    if getattr(parsing, "_localcloud_installed", False):
        return
    for kind, create in SUPPLIED.items():
        _model(kind, create)
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()
    _refuse_unknown_types()
    _publish_exports_after_change_sets()
    parsing._localcloud_installed = True


def _refuse_unknown_types() -> None:
    known = parsing.resource_class_from_type

    def resource_class_from_type(resource_type: str):
        found = known(resource_type)
        if found is None and resource_type not in RECORDED_ONLY and resource_type not in parsing.NULL_MODELS:
            raise UnsupportedResource(f"the local cloud cannot create {resource_type} (neither moto nor "
                                      "localcloud/cloudformation.py supplies it)")
        return found

    parsing.resource_class_from_type = resource_class_from_type


def _publish_exports_after_change_sets() -> None:
    execute = cfn_models.CloudFormationBackend.execute_change_set

    def execute_change_set(self, change_set_name: str, stack_name: str | None = None) -> Any:
        result = execute(self, change_set_name, stack_name)
        change_set = self.change_sets.get(change_set_name) or next(
            (c for c in self.change_sets.values() if c.change_set_name == change_set_name), None)
        stack = self.stacks[change_set.stack_id]
        stack._parse_template()  # the outputs are the change set's template's, of the resources it made
        stack.output_map = stack._create_output_map()
        for export in stack.exports:
            self.exports[export.name] = export
        return result

    cfn_models.CloudFormationBackend.execute_change_set = execute_change_set

