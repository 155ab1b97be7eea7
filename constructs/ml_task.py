"""A Fargate task definition for the ML image: non-root, read-only root file system, logs in KMS."""

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct
from constructs.nag import acknowledge


@dataclass(frozen=True, kw_only=True)
class MlTaskProps:
    image: ecs.ContainerImage
    command: str  # "train" or "infer"
    cpu: int
    memory_mib: int
    encryption_key: kms.IKey
    log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR


class MlTask(Construct):
    CONTAINER_NAME = "ml"

    def __init__(self, scope: Construct, construct_id: str, *, props: MlTaskProps) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self, "Logs", encryption_key=props.encryption_key, retention=props.log_retention,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.task_definition = ecs.FargateTaskDefinition(
            self,
            "TaskDefinition",
            cpu=props.cpu,
            memory_limit_mib=props.memory_mib,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.X86_64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
            ephemeral_storage_gib=40,
            volumes=[ecs.Volume(name="tmp")],
        )
        self.container = self.task_definition.add_container(
            "Container",
            container_name=self.CONTAINER_NAME,
            image=props.image,
            command=[props.command],
            user="10001",
            readonly_root_filesystem=True,
            logging=ecs.LogDrivers.aws_logs(stream_prefix=props.command, log_group=self.log_group),
            environment={"MPLCONFIGDIR": "/tmp/matplotlib"},
        )
        self.container.add_mount_points(ecs.MountPoint(container_path="/tmp", source_volume="tmp", read_only=False))
        acknowledge(
            self.task_definition,
            "The environment holds only S3 locations, a run id and settings (set per run by the state"
            " machine); no secrets. The PII key is read by the ingest Lambda alone.",
            "AwsSolutions-ECS2",
        )
