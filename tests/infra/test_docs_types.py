"""A doc that names a CloudFormation resource type the app does not declare fails the suite."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def types_named(text: str) -> set[str]:
    return set(re.findall(r"\bAWS::[A-Za-z0-9]+::[A-Za-z0-9]+\b", text))


def test_every_resource_type_a_doc_names_is_declared_by_the_app(synthesized, synthesized_lean):
    declared = {resource["Type"] for app in (synthesized, synthesized_lean) for template in app.raw_templates.values()
                for resource in template.get("Resources", {}).values()}
    if any(t.startswith("Custom::") for t in declared):  # how CloudFormation lists custom resources
        declared.add("AWS::CloudFormation::CustomResource")
    declared.add("AWS::CDK::Metadata")  # the CLI's version reporting, which this synthesis leaves out
    named = {str(doc.relative_to(REPO)): sorted(types_named(doc.read_text()) - declared) for doc in DOCS}
    assert not {doc: types for doc, types in named.items() if types}, named
    assert types_named("a `AWS::Neptune::DBCluster` here") - declared == {"AWS::Neptune::DBCluster"}  # it can fail
