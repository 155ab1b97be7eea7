"""The ML compute: ECS cluster, the ml_container image, and the training and inference tasks."""

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_kms as kms
from constructs import Construct
from constructs.access import allow_key, allow_places
from constructs.ml_task import MlTask, MlTaskProps
from constructs.nag import acknowledge
from engagement import environment as env
from stacks.data_exports import DataRefs

REPO_ROOT = Path(__file__).resolve().parent.parent
# Memory no longer grows with customers: Inference scores one shard, Training reads its samples.
# The pipeline benchmark (docs/local-cloud.md: the 1M run at reduced memory) measured at most 1.2 GB in either
# task at 250,000-row shards and samples; 4 GB, the least 2 vCPU take, leaves three times that.
TASK_CPU, TASK_MEMORY_MIB = 2048, 4096


class MlStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, *, vpc: ec2.IVpc, security_group: ec2.ISecurityGroup,
                 data: DataRefs, image_uri: str | None, task_memory_mib: int = TASK_MEMORY_MIB,
                 max_training_rows: int | None = None, max_test_rows: int | None = None, **kwargs) -> None:
        """`max_training_rows`, `max_test_rows`: the training task's samples (None: the container's defaults)."""
        super().__init__(scope, construct_id, **kwargs)
        encryption_key = kms.Key.from_key_arn(self, "DataKey", data.key_arn)
        self.cluster = ecs.Cluster(self, "Cluster", vpc=vpc,
                                   container_insights_v2=ecs.ContainerInsights.ENABLED)
        image = self._image(image_uri)
        self.training = MlTask(self, "TrainingTask", props=MlTaskProps(
            image=image, command="train", cpu=TASK_CPU, memory_mib=task_memory_mib, encryption_key=encryption_key))
        self.inference = MlTask(self, "InferenceTask", props=MlTaskProps(
            image=image, command="infer", cpu=TASK_CPU, memory_mib=task_memory_mib, encryption_key=encryption_key))
        for variable, rows in ((env.MAX_TRAINING_ROWS, max_training_rows), (env.MAX_TEST_ROWS, max_test_rows)):
            if rows is not None:
                self.training.container.add_environment(variable, str(rows))
        self.task_security_group = security_group  # egress to the VPC endpoints only (NetworkStack)
        for stage, task in (("training", self.training), ("inference", self.inference)):
            allow_places(task, task.task_definition.task_role, stage, data.bucket_arns)
            allow_key(task.task_definition.task_role, data.key_arn)
        for task in (self.training, self.inference):
            acknowledge(
                task,
                "ecr:GetAuthorizationToken does not support resource-level permissions (execution role).",
                "AwsSolutions-IAM5[Resource::*]",
            )

    def _image(self, image_uri: str | None) -> ecs.ContainerImage:
        """The ml_container image: built and pushed when the app is deployed (cdk deploy /
        cdk-assets), never at synth; or, where no Docker engine exists, one already pushed."""
        if image_uri:
            return ecs.ContainerImage.from_registry(image_uri)
        return ecs.ContainerImage.from_docker_image_asset(ecr_assets.DockerImageAsset(
            self, "MlImage",
            directory=str(REPO_ROOT),
            file="ml_container/Dockerfile",
            platform=ecr_assets.Platform.LINUX_AMD64,
            ignore_mode=cdk.IgnoreMode.DOCKER,
            exclude=["*", "!ml_container/requirements.txt", "!ml_container/engagement_ml", "!runtime/engagement",
                     "**/__pycache__"],
        ))
