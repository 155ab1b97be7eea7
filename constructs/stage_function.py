"""A platform Lambda (a pipeline stage or an API backend): the runtime/ asset, the shared layer, in
the VPC, encrypted, traced, logged; reserved concurrency only where the deployment asks for it."""

from collections.abc import Mapping
from dataclasses import dataclass, field

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct
from constructs.nag import acknowledge, acknowledge_checkov


@dataclass(frozen=True, kw_only=True)
class StageFunctionProps:
    handler: str  # module.function under runtime/
    description: str
    code: lambda_.Code
    layer: lambda_.ILayerVersion
    vpc: ec2.IVpc | None  # None: outside any VPC (the lean profile), calling AWS APIs directly
    security_group: ec2.ISecurityGroup | None  # egress to the VPC endpoints only
    encryption_key: kms.IKey
    environment: Mapping[str, str] = field(default_factory=dict)
    timeout: cdk.Duration = cdk.Duration.minutes(5)
    memory_mb: int = 1024
    log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR
    # None: the account's unreserved pool. Lambda keeps 100 executions unreserved per account, and new
    # accounts often have a quota of 10-50, so any reservation can make CloudFormation refuse the function.
    reserved_concurrency: int | None = None


class StageFunction(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, props: StageFunctionProps) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self, "Logs", encryption_key=props.encryption_key, retention=props.log_retention,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.function = lambda_.Function(
            self,
            "Function",
            description=props.description,
            runtime=lambda_.Runtime.PYTHON_3_11,
            architecture=lambda_.Architecture.X86_64,
            code=props.code,
            handler=props.handler,
            layers=[props.layer],
            timeout=props.timeout,
            memory_size=props.memory_mb,
            ephemeral_storage_size=cdk.Size.gibibytes(4),  # ingest spools bronze and quarantine files in /tmp
            environment={
                **props.environment,
                "POWERTOOLS_SERVICE_NAME": "engagement-pipeline",
                "POWERTOOLS_METRICS_NAMESPACE": "EngagementPlatform",
            },
            environment_encryption=props.encryption_key,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            reserved_concurrent_executions=props.reserved_concurrency,
            **({"vpc": props.vpc, "security_groups": [props.security_group],
                "vpc_subnets": ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)} if props.vpc else {}),
        )
        self._acknowledge_findings(props)

    def _acknowledge_findings(self, props: StageFunctionProps) -> None:
        """The cdk-nag and checkov findings this function's design accepts, each with its reason."""
        if props.reserved_concurrency is None:
            reason = ("No reserved concurrency by default: Lambda keeps 100 executions unreserved per account and new"
                      " accounts often have a quota of 10-50, where any reservation fails the deploy. The pipeline"
                      " runs one execution at a time (the run lock) and the API is throttled at its stage; the"
                      " reserveConcurrency context setting reserves executions where the quota allows.")
            acknowledge(self.function, reason, "HIPAA.Security-LambdaConcurrency", "NIST.800.53.R5-LambdaConcurrency")
            acknowledge_checkov(self.function, reason, "CKV_AWS_115")
        if props.vpc is None:
            reason = ("Lean profile: the function calls only AWS APIs (IAM-authorized, TLS) and serves nothing;"
                      " outside the VPC it needs no interface endpoints, which cost more than the rest of the"
                      " platform together (python -m cost).")
            acknowledge(self.function, reason, "HIPAA.Security-LambdaInsideVPC", "NIST.800.53.R5-LambdaInsideVPC")
            acknowledge_checkov(self.function, reason, "CKV_AWS_117")
        acknowledge(
            self.function,
            "Python 3.11 is pinned to match the layer's wheels and the interpreter the tests run on;"
            " moving to a newer runtime is a deliberate upgrade of both.",
            "AwsSolutions-L1",
        )
        acknowledge(
            self.function,
            "AWS-managed Lambda execution policies: writing to the function's own log group and managing"
            " its VPC network interfaces, maintained by AWS as those services change.",
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaVPCAccessExecutionRole]",
        )
        acknowledge(
            self.function,
            "Active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords do not support"
            " resource-level permissions.",
            "AwsSolutions-IAM5[Resource::*]",
        )
        no_dead_letters = ("Invoked synchronously, by Step Functions (which retries and catches failures) or API"
                           " Gateway (whose caller gets the error); there is no asynchronous event to dead-letter.")
        acknowledge(self.function, no_dead_letters, "HIPAA.Security-LambdaDLQ", "NIST.800.53.R5-LambdaDLQ")
        acknowledge_checkov(self.function, no_dead_letters, "CKV_AWS_116")
