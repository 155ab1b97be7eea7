"""Container images without Docker (localcloud/images.py) and tasks run from them (localcloud/tasks.py)."""

import json
import sys
from pathlib import Path

import pytest

from localcloud import images, tasks

REPO = Path(__file__).resolve().parents[2]


def test_the_ml_image_is_read_from_its_dockerfile(tmp_path):
    image = images.build("engagement-ml:local", REPO / "ml_container" / "Dockerfile", REPO, tmp_path / "root")
    assert image.entrypoint == ["python", "-m", "engagement_ml"] and image.command == ["train"]
    assert image.argv(["infer"]) == [sys.executable, "-m", "engagement_ml", "infer"]
    assert image.argv() == [sys.executable, "-m", "engagement_ml", "train"]
    assert image.workdir == tmp_path / "root" / "app"
    assert image.environment["PYTHONPATH"] == str(tmp_path / "root" / "app")  # the image's /app, here
    assert image.environment["HOME"] == "/tmp"  # not in the image: the host's
    assert (image.workdir / "engagement_ml").resolve() == REPO / "ml_container" / "engagement_ml"
    assert (image.workdir / "engagement" / "schema.py").is_file()


def small_image(tmp_path: Path, dockerfile: str, app: str = "") -> images.LocalImage:
    context = tmp_path / "context"
    context.mkdir()
    (context / "app.py").write_text(app)
    (context / "Dockerfile").write_text(dockerfile)
    return images.build("small:1", context / "Dockerfile", context, tmp_path / "root")


@pytest.mark.parametrize(("dockerfile", "message"), [
    ('FROM scratch\nENTRYPOINT python app.py\n', "exec form"),
    ('FROM scratch\nCOPY missing.py /srv/\n', "missing.py not found"),
    ('FROM scratch\nCOPY app.py other.py /srv/\n', "one source to one destination"),
])
def test_a_dockerfile_it_cannot_stand_in_for_is_refused_by_name(tmp_path, dockerfile, message):
    with pytest.raises(images.ImageError, match=message):
        small_image(tmp_path, dockerfile)


DOCKERFILE = ('FROM python:3.11-slim\n# a comment\nWORKDIR /srv\nCOPY app.py /srv/app.py\n'
              'ENV GREETING=hello \\\n    OTHER="two words"\nENTRYPOINT ["python", "app.py"]\n')
APP = ("import os, sys\n"
       "mode = sys.argv[1]\n"
       "if mode == 'hungry': blocks = [bytearray(32 * 2**20) for _ in range(12)]\n"
       "if mode == 'fail': raise ValueError('bad input')\n"
       "print(os.environ['GREETING'], os.environ['OTHER'], os.environ['STAGE'], mode, os.getcwd(), file=sys.stderr)\n")


def run(image, tmp_path, command, memory_mb=512):
    task = tasks.RegisteredTask(arn="arn:aws:ecs:us-east-1:000000000000:task-definition/Small:1", family="Small",
                                container_name="app", cpu="256", image="small:1", command=["ok"], environment={"STAGE": "task"},
                                memory_mb=memory_mb)
    return tasks.run(task, image, cluster_arn="arn:aws:ecs:us-east-1:000000000000:cluster/c",
                     overrides={"ContainerOverrides": [{"Command": command}]} if command else {},
                     base_environment={}, log_dir=tmp_path / "logs", timeout_s=30)


def test_a_task_runs_the_images_entrypoint_with_its_command_and_environment(tmp_path):
    image = small_image(tmp_path, DOCKERFILE, APP)
    stopped = run(image, tmp_path, None)
    assert stopped["TaskArn"].startswith("arn:aws:ecs:us-east-1:000000000000:task/c/")
    assert stopped["LastStatus"] == "STOPPED" and stopped["Containers"][0]["ExitCode"] == 0
    assert image.command == [] and image.environment == {"GREETING": "hello", "OTHER": "two words"}
    log = (tmp_path / "logs" / "ecs-Small.log").read_text()
    assert log.startswith(f"hello two words task ok {tmp_path / 'root' / 'srv'}\n")


def test_a_task_fails_as_ecs_reports_it(tmp_path):
    image = small_image(tmp_path, DOCKERFILE, APP)
    with pytest.raises(tasks.TaskError) as failed:
        run(image, tmp_path, ["fail"])
    stopped = json.loads(failed.value.cause)  # the stopped task, as runTask.sync's failure cause on AWS
    assert failed.value.error == "States.TaskFailed" and stopped["Containers"][0]["ExitCode"] == 1
    assert stopped["StopCode"] == "EssentialContainerExited"
    assert "bad input" in (tmp_path / "logs" / "ecs-Small.log").read_text()
    with pytest.raises(tasks.TaskError) as killed:
        run(image, tmp_path, ["hungry"], memory_mb=128)
    oom = json.loads(killed.value.cause)["Containers"][0]
    assert killed.value.error == "States.TaskFailed" and oom["Reason"].startswith("OutOfMemoryError") and oom["ExitCode"] == 137
    with pytest.raises(tasks.TaskError) as unpulled:
        run(None, tmp_path, None)
    unpulled_task = json.loads(unpulled.value.cause)
    assert unpulled_task["StopCode"] == "TaskFailedToStart"
    assert unpulled_task["StoppedReason"].startswith("CannotPullContainerError") and "--image small:1=" in unpulled.value.cause
