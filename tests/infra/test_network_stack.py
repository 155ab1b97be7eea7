"""NetworkStack: private isolated subnets only, no internet path, endpoints that admit only this
account, egress only to the endpoints, flow logs."""

import json

import pytest
from aws_cdk.assertions import Match, Template

from stacks.network_stack import INTERFACE_ENDPOINTS

INTERFACE_SERVICES = list(INTERFACE_ENDPOINTS)
ACCOUNT = {"Ref": "AWS::AccountId"}


def test_no_internet_gateway_nat_or_public_subnet(network_template: Template):
    for resource_type in (
        "AWS::EC2::InternetGateway",
        "AWS::EC2::VPCGatewayAttachment",
        "AWS::EC2::NatGateway",
        "AWS::EC2::EIP",
        "AWS::EC2::EgressOnlyInternetGateway",
    ):
        network_template.resource_count_is(resource_type, 0)
    subnets = network_template.find_resources("AWS::EC2::Subnet")
    assert len(subnets) == 2
    for logical_id, subnet in subnets.items():
        assert subnet["Properties"]["MapPublicIpOnLaunch"] is False, logical_id
        tags = {tag["Key"]: tag["Value"] for tag in subnet["Properties"]["Tags"]}
        assert tags["aws-cdk:subnet-type"] == "Isolated", logical_id


def test_no_route_leaves_the_vpc_except_to_gateway_endpoints(network_template: Template):
    network_template.resource_count_is("AWS::EC2::Route", 0)


@pytest.mark.parametrize("service", ["s3", "dynamodb"])
def test_gateway_endpoints(network_template: Template, service: str):
    network_template.has_resource_properties(
        "AWS::EC2::VPCEndpoint",
        {
            "VpcEndpointType": "Gateway",
            "ServiceName": {"Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, f".{service}"]]},
        },
    )


@pytest.mark.parametrize("service", INTERFACE_SERVICES, ids=lambda s: s.short_name)
def test_interface_endpoints_have_private_dns_and_the_endpoint_security_group(
    network_template: Template, service
):
    network_template.has_resource_properties(
        "AWS::EC2::VPCEndpoint",
        {
            "VpcEndpointType": "Interface",
            "ServiceName": Match.any_value(),
            "PrivateDnsEnabled": True,
            "SecurityGroupIds": [{"Fn::GetAtt": [Match.string_like_regexp("EndpointSecurityGroup"), "GroupId"]}],
            "SubnetIds": Match.any_value(),
        },
    )
    names = [
        str(endpoint["Properties"]["ServiceName"])
        for endpoint in network_template.find_resources("AWS::EC2::VPCEndpoint").values()
    ]
    assert any(f".{service.short_name}" in name for name in names), names


def security_group(template: Template, name: str) -> tuple[str, dict]:
    [(logical_id, group)] = [(lid, g) for lid, g in template.find_resources("AWS::EC2::SecurityGroup").items()
                             if name in lid]
    return logical_id, group["Properties"]


def test_endpoints_admit_https_from_the_workload_group_only(network_template: Template):
    endpoint_group, properties = security_group(network_template, "EndpointSecurityGroup")
    workload_group, _ = security_group(network_template, "WorkloadSecurityGroup")
    assert "SecurityGroupIngress" not in properties
    [ingress] = network_template.find_resources("AWS::EC2::SecurityGroupIngress").values()
    assert ingress["Properties"] | {"Description": None} == {
        "GroupId": {"Fn::GetAtt": [endpoint_group, "GroupId"]}, "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
        "SourceSecurityGroupId": {"Fn::GetAtt": [workload_group, "GroupId"]}, "Description": None}


def test_workload_egress_reaches_only_the_endpoints(network_template: Template):
    """Lambdas and tasks: HTTPS to the interface endpoints' group and the gateway endpoints'
    prefix lists; nothing else (CDK writes a deny-all placeholder for "no other egress")."""
    workload_group, properties = security_group(network_template, "WorkloadSecurityGroup")
    endpoint_group, _ = security_group(network_template, "EndpointSecurityGroup")
    assert "SecurityGroupIngress" not in properties
    inline = properties.get("SecurityGroupEgress", [])
    assert all(rule.get("CidrIp") == "255.255.255.255/32" for rule in inline), inline
    rules = [r["Properties"] for r in network_template.find_resources("AWS::EC2::SecurityGroupEgress").values()
             if r["Properties"]["GroupId"] == {"Fn::GetAtt": [workload_group, "GroupId"]}]
    rules += [rule for rule in inline if rule.get("CidrIp") != "255.255.255.255/32"]
    assert {(r["FromPort"], r["ToPort"], r["IpProtocol"]) for r in rules} == {(443, 443, "tcp")}
    targets = sorted(json.dumps(r.get("DestinationSecurityGroupId") or r.get("DestinationPrefixListId")) for r in rules)
    assert len(targets) == 3 and json.dumps({"Fn::GetAtt": [endpoint_group, "GroupId"]}) in targets
    assert sum("PrefixList" in target for target in targets) == 2  # S3 and DynamoDB, looked up at deploy


def endpoint_policies(template: Template) -> dict[str, list[dict]]:
    return {json.dumps(e["Properties"]["ServiceName"]): e["Properties"]["PolicyDocument"]["Statement"]
            for e in template.find_resources("AWS::EC2::VPCEndpoint").values()}


def test_every_endpoint_admits_only_this_accounts_principals_and_resources(network_template: Template):
    """Nothing in the VPC can copy data to another account's bucket, table, secret or key."""
    policies = endpoint_policies(network_template)
    assert len(policies) == len(INTERFACE_SERVICES) + 2
    for service, statements in policies.items():
        for statement in statements:
            assert statement["Effect"] == "Allow" and statement["Principal"] == {"AWS": "*"}, service
            assert not [a for a in _list(statement["Action"]) if "*" in a], service
            condition = statement.get("Condition", {}).get("StringEquals", {})
            if _list(statement["Resource"]) == ["*"]:
                assert condition.get("aws:PrincipalAccount") == ACCOUNT, (service, statement)
            else:  # the one exception: ECR's image layers, in AWS's own bucket
                assert statement["Action"] == "s3:GetObject" and "starport-layer-bucket" in json.dumps(statement)
    for service, statements in policies.items():
        scoped = [s for s in statements if "aws:ResourceAccount" in s.get("Condition", {}).get("StringEquals", {})]
        assert all(s["Condition"]["StringEquals"]["aws:ResourceAccount"] == ACCOUNT for s in scoped)


def test_endpoint_policies_admit_every_action_the_vpc_principals_are_granted(synthesized, network_template):
    """Drift guard: an action granted to a Lambda or task role that its endpoint does not admit
    would fail only on AWS."""
    policies = {service: [a for s in statements for a in _list(s["Action"])]
                for service, statements in endpoint_policies(network_template).items()}
    admitted = {}
    for service, actions in policies.items():
        for action in actions:
            admitted.setdefault(action.split(":")[0], set()).add(action.lower())
    granted = set()
    for stack in (synthesized.platform.pipeline, synthesized.platform.ml):
        template = synthesized.raw_templates[stack.stack_name]
        for logical_id, policy in template["Resources"].items():
            path = policy.get("Metadata", {}).get("aws:cdk:path", "")
            if policy["Type"] != "AWS::IAM::Policy" or not ("Function/" in path or "TaskDefinition/" in path):
                continue
            granted |= {a for s in policy["Properties"]["PolicyDocument"]["Statement"] for a in _list(s["Action"])}
    missing = [a for a in granted if a.split(":")[0] in admitted and a.lower() not in admitted[a.split(":")[0]]]
    assert granted and missing == []


def _list(value):
    return value if isinstance(value, list) else [value]


def test_flow_logs_capture_all_traffic_into_an_encrypted_retained_log_group(network_template: Template):
    network_template.has_resource_properties(
        "AWS::EC2::FlowLog", {"ResourceType": "VPC", "TrafficType": "ALL", "LogDestinationType": "cloud-watch-logs"}
    )
    network_template.has_resource(
        "AWS::Logs::LogGroup",
        {
            "Properties": {
                "RetentionInDays": 365,
                "KmsKeyId": {"Fn::GetAtt": [Match.string_like_regexp("FlowLogKey"), "Arn"]},
            },
            "DeletionPolicy": "Retain",
        },
    )
    network_template.has_resource_properties("AWS::KMS::Key", Match.object_like({"EnableKeyRotation": True}))


def test_default_security_group_is_stripped(network_template: Template):
    network_template.resource_count_is("Custom::VpcRestrictDefaultSG", 1)
