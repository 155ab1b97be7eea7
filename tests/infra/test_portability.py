"""Templates every deployer can deploy: CloudFormation, LocalStack and moto all resolve the
intrinsics used, cross-stack values are Fn::ImportValue of values that never change under a
consumer, and the settings local targets need (no termination protection, a pushed image) exist."""

import json
import re
from pathlib import Path

import aws_cdk as cdk
import pytest

from stacks.platform import PlatformSettings, build_platform

# Functions CloudFormation, LocalStack and moto's CloudFormation all resolve in resources,
# outputs and conditions. (Rules, which only CloudFormation evaluates, may use more.)
PORTABLE = {"Ref", "Condition", "Fn::GetAtt", "Fn::Join", "Fn::Sub", "Fn::Select", "Fn::Split", "Fn::ImportValue",
            "Fn::If", "Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Fn::GetAZs", "Fn::Base64", "Fn::FindInMap"}
REPO = Path(__file__).resolve().parents[2]
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/engagement-ml:1.0"


def intrinsics(value, found: set[str]) -> set[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "Ref" or key.startswith("Fn::") or (key == "Condition" and isinstance(item, str)):
                found.add(key)
            intrinsics(item, found)
    elif isinstance(value, list):
        for item in value:
            intrinsics(item, found)
    return found


def test_every_intrinsic_is_one_every_deployer_resolves(synthesized):
    for name, template in synthesized.raw_templates.items():
        used = intrinsics({section: template.get(section) for section in ("Resources", "Outputs", "Conditions")}, set())
        assert used <= PORTABLE, f"{name} uses {sorted(used - PORTABLE)}"


def test_the_check_names_a_weak_reference():
    weak = {"Resources": {"Fn": {"Properties": {"SubnetIds": [{"Fn::GetStackOutput": {"StackName": "N"}}]}}}}
    assert intrinsics(weak, set()) - PORTABLE == {"Fn::GetStackOutput"}


def localstack_coverage_table() -> set[str]:
    """Resource types named in docs/localstack.md's table of LocalStack's published coverage."""
    section = (REPO / "docs" / "localstack.md").read_text()
    return set(re.findall(r"^\| `((?:AWS|Custom)::[A-Za-z0-9:]+)` \|", section, flags=re.MULTILINE))


def test_every_resource_type_is_checked_against_localstack_coverage(synthesized):
    declared = {resource["Type"] for template in synthesized.raw_templates.values()
                for resource in template["Resources"].values()}
    declared.add("AWS::CDK::Metadata")  # the CLI's version reporting adds it; this synthesis leaves it out
    checked = localstack_coverage_table()
    assert declared - checked == set(), "add these types to docs/localstack.md's coverage table"
    assert checked - declared == set(), "docs/localstack.md's coverage table names types the app no longer has"


def test_no_import_is_of_a_value_that_changes_with_each_deployment(synthesized):
    """A strong reference locks the export: a task definition's ARN (a new revision per image) must
    not be one. The pipeline names the family and may run any of its revisions."""
    imports = set()

    def collect(value):
        if isinstance(value, dict):
            if isinstance(value.get("Fn::ImportValue"), str):
                imports.add(value["Fn::ImportValue"])
            for item in value.values():
                collect(item)
        elif isinstance(value, list):
            for item in value:
                collect(item)

    collect(synthesized.raw_templates["EngagementPipeline"])
    assert imports and not [name for name in imports if "TaskDefinition" in name and "Role" not in name]
    families = {task.task_definition.family for task in (synthesized.platform.ml.training,
                                                        synthesized.platform.ml.inference)}
    definition = json.dumps(synthesized.raw_templates["EngagementPipeline"])
    assert all(f'\\"TaskDefinition\\":\\"{family}\\"' in definition for family in families)


@pytest.fixture(scope="module")
def local_target(tmp_path_factory):
    """The app as a local target synthesizes it (one more synthesis, for the settings alone)."""
    context = json.loads((REPO / "cdk.json").read_text())["context"]
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("local.out")),
                  context={**context, "aws:cdk:bundling-stacks": []})
    layer = tmp_path_factory.mktemp("layer")
    (layer / "python").mkdir()
    platform = build_platform(app, PlatformSettings(lambda_layer_dir=layer, termination_protection=False,
                                                    ml_image_uri=IMAGE))
    return platform, app.synth()


def test_termination_protection_is_on_by_default_and_off_where_asked(synthesized, local_target):
    platform, _ = local_target
    assert synthesized.platform.data.termination_protection is True
    assert platform.data.termination_protection is False


def test_a_pushed_image_replaces_the_docker_build(local_target):
    _, assembly = local_target
    ml = assembly.get_stack_by_name("EngagementMl")
    manifest = json.loads((Path(assembly.directory) / "EngagementMl.assets.json").read_text())
    assert manifest.get("dockerImages", {}) == {}
    images = [c["Image"] for r in ml.template["Resources"].values() if r["Type"] == "AWS::ECS::TaskDefinition"
              for c in r["Properties"]["ContainerDefinitions"]]
    assert images == [IMAGE, IMAGE]
