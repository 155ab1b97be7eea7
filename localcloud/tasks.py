"""ECS tasks as CloudFormation registered them, run as Fargate runs them.

`registered()` reads a task definition from moto's ECS backend (the family's latest revision, or
the revision an ARN names): its container's image, command and environment and the task's
memory. `run()` runs the image's entrypoint with that command (images.py stands the image in)
within the task's memory and the state's timeout, failing as ECS does: an image the cloud does
not have cannot be pulled, a container that outgrows its memory is killed.

What it answers is what `ecs:runTask.sync` gives Step Functions on AWS (recorded in
tests/aws_recorded/): the stopped task itself — `TaskArn`, `LastStatus`, `StopCode`,
`Containers[].ExitCode` at the top level — and, for a task that failed, `States.TaskFailed` with
that task as JSON for its cause.
"""

import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from localcloud.images import LocalImage
from localcloud.limits import Exceeded, ServiceError, error_of, run_limited


class TaskError(ServiceError):
    """An ECS task's failure as the runTask.sync integration reports it."""


@dataclass(frozen=True)
class RegisteredTask:
    arn: str
    family: str
    container_name: str
    cpu: str
    image: str
    command: list[str]
    environment: dict[str, str]
    memory_mb: int
    task_role: str | None = None  # the role the container's code runs as
    execution_role: str | None = None  # the role ECS pulls the image and writes logs with


def registered(account: str, region: str, reference: str) -> RegisteredTask | None:
    """The task definition `reference` (family or ARN) names in an account and region."""
    from moto.ecs.exceptions import TaskDefinitionNotFoundException
    from moto.ecs.models import ecs_backends

    try:
        definition = ecs_backends[account][region].describe_task_definition(reference)
    except TaskDefinitionNotFoundException:
        return None
    [container] = definition.container_definitions
    return RegisteredTask(
        arn=definition.arn, family=definition.family, container_name=container["name"],
        cpu=str(definition.cpu or container.get("cpu") or 256), image=container["image"], command=container.get("command", []),
        environment={e["name"]: str(e["value"]) for e in container.get("environment", [])},
        memory_mb=int(definition.memory or container.get("memory") or 512),
        task_role=getattr(definition, "task_role_arn", None), execution_role=getattr(definition, "execution_role_arn", None))


def run(task: RegisteredTask, image: LocalImage | None, *, cluster_arn: str, overrides: dict,
        base_environment: dict[str, str], log_dir: Path, timeout_s: float) -> dict:
    """Run the task to completion; the stopped task as runTask.sync returns it, or TaskError as
    the ECS integration fails (the state's timeout: States.Timeout)."""
    stopped = _StoppedTask(task, cluster_arn, overrides)
    if image is None:
        raise stopped.failed("TaskFailedToStart", f"CannotPullContainerError: the local cloud has no image "
                                                  f"{task.image} (give it one: --image {task.image}=path/to/Dockerfile)")
    container = (overrides.get("ContainerOverrides") or [{}])[0]
    environment = {"PATH": os.environ.get("PATH", ""), **image.environment, **base_environment, **task.environment,
                   **{e["Name"]: e["Value"] for e in container.get("Environment", [])}}
    command = container.get("Command") or task.command
    log = log_dir / f"ecs-{task.family}.log"
    try:
        finished = run_limited(image.argv(command), environment, log=log, memory_mb=task.memory_mb,
                               timeout_s=timeout_s, cwd=image.workdir)
    except Exceeded as exceeded:
        if exceeded.limit == "memory":
            raise stopped.failed("EssentialContainerExited", "Essential container in task exited", exit_code=137,
                                 reason=f"OutOfMemoryError: Container killed due to memory usage ({exceeded})") from None
        raise TaskError("States.Timeout", str(exceeded)) from None
    if finished.returncode != 0:
        raise stopped.failed("EssentialContainerExited", "Essential container in task exited",
                             exit_code=finished.returncode)
    return stopped.description("EssentialContainerExited", "Essential container in task exited", exit_code=0)


class _StoppedTask:
    """The task object ECS describes once a task stopped (the fields runTask.sync returns)."""

    def __init__(self, task: RegisteredTask, cluster_arn: str, overrides: dict) -> None:
        self.task, self.cluster_arn, self.overrides = task, cluster_arn, overrides
        self.arn = f"{cluster_arn.replace(':cluster/', ':task/', 1)}/{uuid.uuid4().hex}"
        self.created_ms = int(time.time() * 1000)

    def description(self, stop_code: str, stopped_reason: str, *, exit_code: int | None = None,
                    reason: str | None = None) -> dict:
        now_ms = int(time.time() * 1000)
        container = {"ContainerArn": f"{self.arn.replace(':task/', ':container/', 1)}/{uuid.uuid4()}",
                     "Name": self.task.container_name, "Image": self.task.image, "LastStatus": "STOPPED",
                     "TaskArn": self.arn, "Cpu": "0", "GpuIds": [], "NetworkBindings": [], "NetworkInterfaces": [],
                     **({"ExitCode": exit_code} if exit_code is not None else {}),
                     **({"Reason": reason} if reason else {})}
        return {"Attachments": [], "Attributes": [{"Name": "ecs.cpu-architecture", "Value": "x86_64"}],
                "ClusterArn": self.cluster_arn, "Containers": [container], "Cpu": self.task.cpu,
                "CreatedAt": self.created_ms, "DesiredStatus": "STOPPED", "EnableExecuteCommand": False,
                "Group": f"family:{self.task.family}", "LastStatus": "STOPPED", "LaunchType": "FARGATE",
                "Memory": str(self.task.memory_mb), "Overrides": self.overrides, "PlatformVersion": "1.4.0",
                "StartedAt": self.created_ms, "StartedBy": "AWS Step Functions", "StopCode": stop_code,
                "StoppedAt": now_ms, "StoppedReason": stopped_reason, "StoppingAt": now_ms, "Tags": [],
                "TaskArn": self.arn, "TaskDefinitionArn": self.task.arn, "Version": 4}

    def failed(self, stop_code: str, stopped_reason: str, **container) -> TaskError:
        """States.TaskFailed, its cause the stopped task as JSON (as Step Functions reports it)."""
        return TaskError("States.TaskFailed", json.dumps(self.description(stop_code, stopped_reason, **container)))
