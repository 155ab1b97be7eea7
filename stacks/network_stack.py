"""The private network the Fargate tasks and VPC-attached Lambdas run in."""

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct
from constructs.encryption_key import EncryptionKey
from constructs.private_network import PrivateNetwork, PrivateNetworkProps

# What the tasks call, by stage: ECR (image pull), Logs (task and Lambda logs), STS (role
# credentials), Athena and Glue (queries and catalog), KMS (SSE-KMS data), Secrets Manager (the
# PII tokenization key), X-Ray (traces). S3 and DynamoDB go through gateway endpoints.
INTERFACE_SERVICES = (
    ec2.InterfaceVpcEndpointAwsService.ECR,
    ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
    ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
    ec2.InterfaceVpcEndpointAwsService.STS,
    ec2.InterfaceVpcEndpointAwsService.ATHENA,
    ec2.InterfaceVpcEndpointAwsService.GLUE,
    ec2.InterfaceVpcEndpointAwsService.KMS,
    ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
    ec2.InterfaceVpcEndpointAwsService.XRAY,
)


class NetworkStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        flow_log_key = EncryptionKey(
            self, "FlowLogKey", description="Customer engagement platform: VPC flow logs", log_groups="*"
        ).key
        self.network = PrivateNetwork(
            self,
            "PrivateNetwork",
            props=PrivateNetworkProps(
                interface_services=INTERFACE_SERVICES,
                flow_log_key=flow_log_key,
                flow_log_retention=logs.RetentionDays.ONE_YEAR,
            ),
        )
        self.vpc = self.network.vpc
