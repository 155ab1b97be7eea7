"""A VPC with no route to the internet: private isolated subnets and VPC endpoints only."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct
from constructs.nag import acknowledge, acknowledge_checkov


@dataclass(frozen=True, kw_only=True)
class EndpointAccess:
    """What an endpoint lets through: `actions` on this account's resources, `account_actions`
    (actions that name no resource) to this account's principals, and any extra statements."""

    actions: Sequence[str]
    account_actions: Sequence[str] = ()
    extra: Sequence[iam.PolicyStatement] = ()


@dataclass(frozen=True, kw_only=True)
class PrivateNetworkProps:
    interface_endpoints: Mapping[ec2.InterfaceVpcEndpointAwsService, EndpointAccess]
    s3_access: EndpointAccess
    dynamodb_access: EndpointAccess
    log_key: kms.IKey  # flow logs and the deploy-time lookups' logs
    flow_log_retention: logs.RetentionDays
    cidr: str = "10.40.0.0/16"
    max_azs: int = 2
    endpoint_azs: int = 2  # the interface endpoints' ENIs: one per AZ, in the first this many AZs


class PrivateNetwork(Construct):
    """Isolated subnets, S3/DynamoDB gateway endpoints, the given interface endpoints, flow logs.

    There is no internet gateway and no NAT. Code in the VPC uses `workload_security_group`,
    whose only egress is HTTPS to the interface endpoints and to the gateway endpoints' prefix
    lists; every endpoint's policy admits only this account's principals acting on this
    account's resources, so nothing in the VPC can copy data to another account.
    """

    def __init__(self, scope: Construct, construct_id: str, *, props: PrivateNetworkProps) -> None:
        super().__init__(scope, construct_id)
        self.flow_log_group = logs.LogGroup(
            self, "FlowLogs", encryption_key=props.log_key, retention=props.flow_log_retention,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.lookup_log_group = logs.LogGroup(
            self, "LookupLogs", encryption_key=props.log_key, retention=logs.RetentionDays.ONE_MONTH,
            removal_policy=cdk.RemovalPolicy.DESTROY)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(props.cidr),
            max_azs=props.max_azs,
            nat_gateways=0,
            create_internet_gateway=False,
            restrict_default_security_group=True,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="Private", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=22)
            ],
            flow_logs={
                "AllTraffic": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(self.flow_log_group),
                    traffic_type=ec2.FlowLogTrafficType.ALL,
                )
            },
        )
        self.endpoint_security_group = ec2.SecurityGroup(
            self, "EndpointSecurityGroup", vpc=self.vpc, allow_all_outbound=False,
            description="Interface endpoints: HTTPS from the workload security group only")
        self.workload_security_group = ec2.SecurityGroup(
            self, "WorkloadSecurityGroup", vpc=self.vpc, allow_all_outbound=False,
            description="Pipeline Lambdas and ML tasks: no inbound; HTTPS out to the VPC endpoints only")
        self.workload_security_group.connections.allow_to(
            self.endpoint_security_group, ec2.Port.tcp(443), "HTTPS to the interface endpoints")
        self.gateway_endpoints = {
            "S3": self._gateway("S3", ec2.GatewayVpcEndpointAwsService.S3, "s3", props.s3_access),
            "DynamoDb": self._gateway("DynamoDb", ec2.GatewayVpcEndpointAwsService.DYNAMODB, "dynamodb",
                                      props.dynamodb_access),
        }
        self.endpoint_azs = props.endpoint_azs
        self.interface_endpoints = {
            service.short_name: self._interface(service, access)
            for service, access in props.interface_endpoints.items()
        }

    def _gateway(self, name: str, service: ec2.GatewayVpcEndpointAwsService, short_name: str,
                 access: EndpointAccess) -> ec2.GatewayVpcEndpoint:
        endpoint = self.vpc.add_gateway_endpoint(name, service=service)
        for statement in _policy(access):
            endpoint.add_to_policy(statement)
        self.workload_security_group.add_egress_rule(
            ec2.Peer.prefix_list(self._prefix_list_id(name, short_name)), ec2.Port.tcp(443),
            f"HTTPS to {name} through its gateway endpoint")
        return endpoint

    def _interface(self, service: ec2.InterfaceVpcEndpointAwsService, access: EndpointAccess):
        endpoint = self.vpc.add_interface_endpoint(
            _endpoint_id(service.short_name), service=service, private_dns_enabled=True,
            security_groups=[self.endpoint_security_group], open=False,
            subnets=ec2.SubnetSelection(subnets=self.vpc.isolated_subnets[:self.endpoint_azs]))
        for statement in _policy(access):
            endpoint.add_to_policy(statement)
        return endpoint

    def _prefix_list_id(self, name: str, short_name: str) -> str:
        """The AWS-managed prefix list of a gateway endpoint's service. CloudFormation exposes no
        attribute for it, so a deploy-time lookup reads it (ec2:DescribePrefixLists)."""
        lookup = cr.AwsCustomResource(
            self, f"{name}PrefixList",
            on_update=cr.AwsSdkCall(
                service="EC2", action="describePrefixLists",
                parameters={"Filters": [{"Name": "prefix-list-name",
                                         "Values": [f"com.amazonaws.{cdk.Aws.REGION}.{short_name}"]}]},
                physical_resource_id=cr.PhysicalResourceId.of(f"{short_name}-prefix-list"),
                output_paths=["PrefixLists.0.PrefixListId"]),
            policy=cr.AwsCustomResourcePolicy.from_statements([
                iam.PolicyStatement(actions=["ec2:DescribePrefixLists"], resources=["*"])]),
            install_latest_aws_sdk=False,
            log_group=self.lookup_log_group,
        )
        acknowledge(lookup, "ec2:DescribePrefixLists (read-only, no data) supports no resource-level permissions.",
                    "AwsSolutions-IAM5[Resource::*]")
        return lookup.get_response_field("PrefixLists.0.PrefixListId")


def acknowledge_lookup_function(stack: cdk.Stack) -> None:
    """The custom-resource provider behind the prefix-list lookups (CDK's singleton function)."""
    provider = stack.node.try_find_child("AWS679f53fac002430cb0da5b7982bd2287")
    if provider is None:
        return
    reason = ("CDK's custom-resource provider runs only while CloudFormation deploys, calls one read-only EC2"
              " API (the VPC has no EC2 endpoint, so it runs outside it) and handles no data.")
    acknowledge(provider, reason, "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                                  "AWSLambdaBasicExecutionRole]", "AwsSolutions-L1", "HIPAA.Security-LambdaConcurrency",
                "HIPAA.Security-LambdaDLQ", "HIPAA.Security-LambdaInsideVPC", "NIST.800.53.R5-LambdaConcurrency",
                "NIST.800.53.R5-LambdaDLQ", "NIST.800.53.R5-LambdaInsideVPC")
    acknowledge_checkov(provider, reason, "CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_117", "CKV_AWS_173")


def _policy(access: EndpointAccess) -> list[iam.PolicyStatement]:
    account = cdk.Aws.ACCOUNT_ID
    statements = []
    if access.actions:
        statements.append(iam.PolicyStatement(
            principals=[iam.AnyPrincipal()], actions=list(access.actions), resources=["*"],
            conditions={"StringEquals": {"aws:PrincipalAccount": account, "aws:ResourceAccount": account}}))
    if access.account_actions:
        statements.append(iam.PolicyStatement(
            principals=[iam.AnyPrincipal()], actions=list(access.account_actions), resources=["*"],
            conditions={"StringEquals": {"aws:PrincipalAccount": account}}))
    return statements + list(access.extra)


def _endpoint_id(short_name: str) -> str:
    """'ecr.dkr' -> 'EcrDkrEndpoint'."""
    return "".join(part.capitalize() for part in short_name.replace("-", ".").split(".")) + "Endpoint"
