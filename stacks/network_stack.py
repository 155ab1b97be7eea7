"""The private network the Fargate tasks and VPC-attached Lambdas run in."""

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct
from constructs.access import GLUE_ACTIONS, KEY_ACTIONS, S3_ACTIONS
from constructs.encryption_key import EncryptionKey
from constructs.nag import acknowledge_checkov
from constructs.private_network import EndpointAccess, PrivateNetwork, PrivateNetworkProps, acknowledge_lookup_function

ECR_PULL = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability")
# What code in the VPC calls, by endpoint: ECR (image pull), Logs (task logs), STS, Athena and Glue
# (queries and catalog), KMS (SSE-KMS data), Secrets Manager (the PII tokenization key), Bedrock
# (the assistant's model), X-Ray (traces). Each endpoint admits these actions for this account
# only (tests check that every action a VPC principal is granted for the service is here).
INTERFACE_ENDPOINTS = {
    ec2.InterfaceVpcEndpointAwsService.ECR: EndpointAccess(actions=ECR_PULL,
                                                            account_actions=("ecr:GetAuthorizationToken",)),
    ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER: EndpointAccess(actions=ECR_PULL),
    ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS: EndpointAccess(
        actions=("logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams")),
    ec2.InterfaceVpcEndpointAwsService.STS: EndpointAccess(actions=("sts:AssumeRole",),
                                                            account_actions=("sts:GetCallerIdentity",)),
    ec2.InterfaceVpcEndpointAwsService.ATHENA: EndpointAccess(actions=(
        "athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults",
        "athena:StopQueryExecution")),
    ec2.InterfaceVpcEndpointAwsService.GLUE: EndpointAccess(
        actions=tuple(action for actions in GLUE_ACTIONS.values() for action in actions)),
    ec2.InterfaceVpcEndpointAwsService.KMS: EndpointAccess(actions=KEY_ACTIONS),
    ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER: EndpointAccess(actions=("secretsmanager:GetSecretValue",)),
    # Foundation models belong to AWS, not to this account: the assistant's role names the one model.
    ec2.InterfaceVpcEndpointAwsService.BEDROCK_RUNTIME: EndpointAccess(actions=(),
                                                                        account_actions=("bedrock:InvokeModel",)),
    # The knowledge base: KnowledgeBaseDocuments starts its sync, the assistant retrieves from it.
    ec2.InterfaceVpcEndpointAwsService.BEDROCK_AGENT: EndpointAccess(actions=("bedrock:StartIngestionJob",)),
    ec2.InterfaceVpcEndpointAwsService.BEDROCK_AGENT_RUNTIME: EndpointAccess(actions=("bedrock:Retrieve",)),
    ec2.InterfaceVpcEndpointAwsService.XRAY: EndpointAccess(actions=(), account_actions=(
        "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets")),
}
S3_ENDPOINT = EndpointAccess(
    actions=(*S3_ACTIONS["read"], *S3_ACTIONS["write"], "s3:ListBucket", "s3:GetBucketLocation"),
    # Fargate pulls image layers from ECR's own bucket in AWS's account, through this endpoint.
    extra=(iam.PolicyStatement(principals=[iam.AnyPrincipal()], actions=["s3:GetObject"], resources=[
        f"arn:{cdk.Aws.PARTITION}:s3:::prod-{cdk.Aws.REGION}-starport-layer-bucket/*"]),),
)
DYNAMODB_ENDPOINT = EndpointAccess(actions=(
    "dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:BatchWriteItem", "dynamodb:DescribeTable"))


# What the Fargate tasks alone need: the image pull (ECR API and registry, layers through the S3
# gateway) and their logs. With the Lambdas outside the VPC (the lean profile), nothing else.
TASK_ENDPOINTS = (ec2.InterfaceVpcEndpointAwsService.ECR, ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
                  ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS)


class NetworkStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, *, endpoint_services=None, endpoint_azs: int = 2,
                 log_key_arn: str | None = None, **kwargs) -> None:
        """`endpoint_services`: the interface endpoints (default: every one of INTERFACE_ENDPOINTS);
        `log_key_arn`: a key for the flow logs instead of the stack's own."""
        super().__init__(scope, construct_id, **kwargs)
        log_key = kms.Key.from_key_arn(self, "LogKey", log_key_arn) if log_key_arn else EncryptionKey(
            self, "FlowLogKey", description="Customer engagement platform: VPC flow logs and deploy-time lookups",
            log_groups="*",
        ).key
        wanted = {service.short_name for service in endpoint_services or INTERFACE_ENDPOINTS}
        self.network = PrivateNetwork(
            self,
            "PrivateNetwork",
            props=PrivateNetworkProps(
                interface_endpoints={service: access for service, access in INTERFACE_ENDPOINTS.items()
                                     if service.short_name in wanted},
                endpoint_azs=endpoint_azs,
                s3_access=S3_ENDPOINT,
                dynamodb_access=DYNAMODB_ENDPOINT,
                log_key=log_key,
                flow_log_retention=logs.RetentionDays.ONE_YEAR,
            ),
        )
        self.vpc = self.network.vpc
        self.workload_security_group = self.network.workload_security_group
        acknowledge_lookup_function(self)
        restrict_default_group = self.node.try_find_child("Custom::VpcRestrictDefaultSGCustomResourceProvider")
        if restrict_default_group is not None:
            acknowledge_checkov(restrict_default_group, "CDK's provider that strips the VPC's default security group"
                                " runs only while CloudFormation deploys, calls the EC2 API (no EC2 endpoint here)"
                                " and handles no data.", "CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_117")
