"""Scanner wiring: the cdk-nag rule packs the app is held to, and written acknowledgments for
cdk-nag and for checkov (which `make test` runs on the synthesized templates).

cdk-nag 3 runs as a CDK policy-validation plugin: any finding that is not acknowledged makes
`cdk synth` fail, so the app cannot be synthesized (or deployed) with an unexplained finding.
"""

import json

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks
from constructs import IConstruct

PACKS = (AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks)


def add_compliance_packs(app: cdk.App) -> None:
    """Hold every stack of the app to the AwsSolutions, HIPAA Security and NIST 800-53 R5 packs."""
    cdk.Validations.of(app).add_plugins(
        *(pack(app, verbose=True, write_suppressions_to_cloud_formation=True) for pack in PACKS)
    )
    acknowledge(
        app,
        "Permissions are granted with CDK grant_* and explicit statements, which CDK writes as"
        " inline policies scoped to one role: they cannot be attached elsewhere and are deleted"
        " with their role. Each statement is reviewed for least privilege (AwsSolutions-IAM5 stays on).",
        "HIPAA.Security-IAMNoInlinePolicy",
        "NIST.800.53.R5-IAMNoInlinePolicy",
    )


def acknowledge(scope: IConstruct, reason: str, *rule_ids: str) -> None:
    """Acknowledge findings on `scope` and everything below it, with one written reason."""
    if not reason.strip():
        raise ValueError(f"an acknowledgment of {rule_ids} needs a reason")
    validations = cdk.Validations.of(scope)
    for rule_id in rule_ids:
        validations.acknowledge(cdk.Acknowledgment(id=rule_id, reason=reason))


def acknowledge_checkov(scope: IConstruct, reason: str, *check_ids: str) -> None:
    """Skip checkov checks on every CloudFormation resource at or under `scope`, with the reason
    (template metadata `checkov.skip`, which checkov reads)."""
    if not reason.strip():
        raise ValueError(f"a checkov skip of {check_ids} needs a reason")
    for resource in [node for node in scope.node.find_all() if isinstance(node, cdk.CfnResource)]:
        skips = (resource.get_metadata("checkov") or {}).get("skip", [])
        skips += [{"id": check_id, "comment": reason} for check_id in check_ids]
        resource.add_metadata("checkov", {"skip": skips})


def acknowledge_wildcard_resources(scope: IConstruct, reason: str, *resource_arns: str) -> None:
    """Acknowledge AwsSolutions-IAM5 for specific wildcard resources in policies under `scope`.

    cdk-nag names each wildcard finding after the resource as it appears in the template, with
    references written `<LogicalId.Attr>` / `<Ref>`; acknowledgments must match exactly.
    """
    stack = cdk.Stack.of(scope)
    acknowledge(
        scope,
        reason,
        *(f"AwsSolutions-IAM5[Resource::{_as_nag_renders(stack.resolve(arn))}]" for arn in resource_arns),
    )


def _as_nag_renders(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(_as_nag_renders(part) for part in parts)
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        return f"<{logical_id}.{attribute}>"
    if isinstance(value, dict) and "Ref" in value:
        return f"<{value['Ref']}>"
    if isinstance(value, dict) and isinstance(value.get("Fn::ImportValue"), str):
        return value["Fn::ImportValue"]
    # Any other intrinsic appears as its compact JSON.
    return json.dumps(value, separators=(",", ":"))
