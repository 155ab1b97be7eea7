"""A VPC with no route to the internet: private isolated subnets and VPC endpoints only."""

from collections.abc import Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct


@dataclass(frozen=True, kw_only=True)
class PrivateNetworkProps:
    interface_services: Sequence[ec2.InterfaceVpcEndpointAwsService]
    flow_log_key: kms.IKey
    flow_log_retention: logs.RetentionDays
    cidr: str = "10.40.0.0/16"
    max_azs: int = 2


class PrivateNetwork(Construct):
    """Isolated subnets, S3/DynamoDB gateway endpoints, the given interface endpoints, flow logs.

    There is no internet gateway and no NAT: tasks reach AWS services through the endpoints,
    which accept HTTPS from inside the VPC only.
    """

    def __init__(self, scope: Construct, construct_id: str, *, props: PrivateNetworkProps) -> None:
        super().__init__(scope, construct_id)
        self.flow_log_group = logs.LogGroup(
            self,
            "FlowLogs",
            encryption_key=props.flow_log_key,
            retention=props.flow_log_retention,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(props.cidr),
            max_azs=props.max_azs,
            nat_gateways=0,
            create_internet_gateway=False,
            restrict_default_security_group=True,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="Private", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=22
                )
            ],
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3),
                "DynamoDb": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.DYNAMODB),
            },
            flow_logs={
                "AllTraffic": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(self.flow_log_group),
                    traffic_type=ec2.FlowLogTrafficType.ALL,
                )
            },
        )
        self.endpoint_security_group = ec2.SecurityGroup(
            self,
            "EndpointSecurityGroup",
            vpc=self.vpc,
            description="HTTPS from inside the VPC to the interface endpoints",
            allow_all_outbound=False,
        )
        self.endpoint_security_group.add_ingress_rule(
            # The literal CIDR (not the VPC's token) lets cdk-nag verify the rule statically.
            ec2.Peer.ipv4(props.cidr), ec2.Port.tcp(443), "HTTPS from the VPC"
        )
        self.interface_endpoints = {
            service.short_name: self.vpc.add_interface_endpoint(
                _endpoint_id(service.short_name),
                service=service,
                private_dns_enabled=True,
                security_groups=[self.endpoint_security_group],
                open=False,
            )
            for service in props.interface_services
        }


def _endpoint_id(short_name: str) -> str:
    """'ecr.dkr' -> 'EcrDkrEndpoint'."""
    return "".join(part.capitalize() for part in short_name.replace("-", ".").split(".")) + "Endpoint"
