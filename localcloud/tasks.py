"""ECS tasks as CloudFormation registered them, run as Fargate runs them.

`registered()` reads a task definition from moto's ECS backend (the family's latest revision, or
the revision an ARN names): its container's image, command and environment and the task's
memory. `run()` runs the image's entrypoint with that command (images.py stands the image in)
within the task's memory and the state's timeout, failing as ECS does: an image the cloud does
not have cannot be pulled, a container that outgrows its memory is killed.
"""

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from localcloud.images import LocalImage
from localcloud.limits import Exceeded, ServiceError, error_of, run_limited


class TaskError(ServiceError):
    """An ECS task's failure as the runTask.sync integration reports it."""


@dataclass(frozen=True)
class RegisteredTask:
    family: str
    image: str
    command: list[str]
    environment: dict[str, str]
    memory_mb: int


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
        family=definition.family, image=container["image"], command=container.get("command", []),
        environment={e["name"]: str(e["value"]) for e in container.get("environment", [])},
        memory_mb=int(definition.memory or container.get("memory") or 512))


def run(task: RegisteredTask, image: LocalImage | None, *, cluster_arn: str, overrides: dict,
        base_environment: dict[str, str], log_dir: Path, timeout_s: float) -> str:
    """Run the task to completion; its ARN, or TaskError as the ECS integration fails."""
    if image is None:
        raise TaskError("States.TaskFailed", f"CannotPullContainerError: the local cloud has no image {task.image} "
                                             f"(give it one: --image {task.image}=path/to/Dockerfile)")
    container = (overrides.get("ContainerOverrides") or [{}])[0]
    environment = {"PATH": os.environ.get("PATH", ""), **image.environment, **base_environment, **task.environment,
                   **{e["Name"]: e["Value"] for e in container.get("Environment", [])}}
    command = container.get("Command") or task.command
    try:
        finished = run_limited(image.argv(command), environment, log=log_dir / f"ecs-{task.family}.log",
                               memory_mb=task.memory_mb, timeout_s=timeout_s, cwd=image.workdir)
    except Exceeded as exceeded:
        if exceeded.limit == "memory":
            raise TaskError("States.TaskFailed", f"OutOfMemoryError: Container killed due to memory usage "
                                                 f"({exceeded})") from None
        raise TaskError("States.Timeout", str(exceeded)) from None
    if finished.returncode != 0:
        raise TaskError(*error_of(finished.log or finished.stdout))
    return f"{cluster_arn.replace(':cluster/', ':task/', 1)}/{uuid.uuid4().hex}"
