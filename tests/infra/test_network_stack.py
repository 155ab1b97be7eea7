"""NetworkStack: private isolated subnets only, no internet path, endpoints, flow logs."""

import pytest
from aws_cdk.assertions import Match, Template

from stacks.network_stack import INTERFACE_SERVICES


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


def test_endpoint_security_group_admits_only_https_from_the_vpc(network_template: Template):
    [vpc] = network_template.find_resources("AWS::EC2::VPC").values()
    network_template.has_resource_properties(
        "AWS::EC2::SecurityGroup",
        {
            "SecurityGroupIngress": [
                {"CidrIp": vpc["Properties"]["CidrBlock"], "FromPort": 443, "ToPort": 443, "IpProtocol": "tcp"}
            ],
            # CDK writes a deny-all placeholder when outbound is disallowed.
            "SecurityGroupEgress": [Match.object_like({"CidrIp": "255.255.255.255/32"})],
        },
    )


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
