"""Security baseline: cdk-nag packs gate synthesis; every acknowledgment says why; cfn-lint is clean."""

import json
import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3
from cfnlint.api import lint_file

from constructs.nag import acknowledge, add_compliance_packs

# Our packs, plus the acknowledgments aws-cdk-lib writes for its own CloudFormation validation.
KNOWN_PREFIXES = ("AwsSolutions-", "HIPAA.Security-", "NIST.800.53.R5-", "CloudFormation-Validate::")


def test_the_app_synthesizes_with_zero_unacknowledged_findings(synthesized):
    # Synthesis raises on any violation (see the next test); the report must also be clean.
    report = json.loads((synthesized.outdir / "validation-report.json").read_text())
    violations = [v["ruleName"] for plugin in report["pluginReports"] for v in plugin["violations"]]
    assert violations == []


def test_an_unacknowledged_finding_fails_synthesis(tmp_path):
    app = cdk.App(outdir=str(tmp_path))
    s3.Bucket(cdk.Stack(app, "Insecure"), "PlainBucket")
    add_compliance_packs(app)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    rules = {v["ruleName"] for plugin in report["pluginReports"] for v in plugin["violations"]}
    assert {"AwsSolutions-S1", "AwsSolutions-S10", "NIST.800.53.R5-S3DefaultEncryptionKMS"} <= rules


def test_an_acknowledgment_needs_a_reason(tmp_path):
    stack = cdk.Stack(cdk.App(outdir=str(tmp_path)), "Any")
    with pytest.raises(ValueError, match="needs a reason"):
        acknowledge(stack, "  ", "AwsSolutions-S1")


def test_every_acknowledgment_names_a_known_pack_and_gives_a_specific_reason(synthesized):
    acknowledged = [
        rule
        for template in synthesized.raw_templates.values()
        for resource in template["Resources"].values()
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    ]
    assert acknowledged
    for rule in acknowledged:
        assert rule["id"].startswith(KNOWN_PREFIXES), rule
        assert len(rule["reason"]) >= 40, rule


def test_no_wildcard_action_is_acknowledged(synthesized):
    acknowledged = {
        rule["id"]
        for template in synthesized.raw_templates.values()
        for resource in template["Resources"].values()
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    }
    assert not [rule for rule in acknowledged if rule.startswith("AwsSolutions-IAM5[Action::")]


def test_cfn_lint_reports_no_errors(synthesized):
    templates = sorted(synthesized.outdir.glob("*.template.json"))
    assert len(templates) == len(synthesized.raw_templates)
    findings = [(path.name, match) for path in templates for match in lint_file(path)]
    errors = [f"{name}: {match}" for name, match in findings if match.rule.id.startswith("E")]
    assert errors == []


def test_cfn_lint_catches_a_broken_template(tmp_path):
    broken = tmp_path / "Broken.template.json"
    broken.write_text(json.dumps({"Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"Nope": 1}}}}))
    assert [match.rule.id for match in lint_file(broken)] == ["E3002"]
