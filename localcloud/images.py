"""Container images without Docker.

A task definition names an image; the local cloud runs it from the image's Dockerfile: COPY
sources are linked into a folder that stands in for the image's file system, and WORKDIR, ENV,
ENTRYPOINT and CMD are read as Docker reads them. What it does not do, and says so: RUN steps are
not executed (the local Python environment must already hold what they install, as the venv
does for pinned requirements), `python` in the entrypoint is this interpreter, USER is ignored,
and absolute paths outside the copied folders (`/tmp`) are the host's.
"""

import json
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

PYTHON_NAMES = {"python", "python3", f"python{sys.version_info.major}.{sys.version_info.minor}"}


class ImageError(ValueError):
    """A Dockerfile the local cloud cannot stand in for, or an image it was not given."""


@dataclass(frozen=True)
class LocalImage:
    uri: str
    root: Path  # stands in for the image's file system
    workdir: Path
    environment: dict[str, str]
    entrypoint: list[str]
    command: list[str]

    def argv(self, command: list[str] | None = None) -> list[str]:
        """What the container runs: ENTRYPOINT + (the task's command or CMD), as Docker joins them."""
        argv = [*self.entrypoint, *(command if command else self.command)]
        if not argv:
            raise ImageError(f"image {self.uri} has neither ENTRYPOINT nor CMD, and the task gives no command")
        if argv[0] in PYTHON_NAMES:
            argv[0] = sys.executable
        return argv


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs: comments dropped, continuation lines joined."""
    joined, pending = [], ""
    for line in dockerfile.read_text().splitlines():
        if not pending and line.lstrip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    pairs = []
    for line in (j.strip() for j in joined + [pending]):
        if line:
            keyword, _, arguments = line.partition(" ")
            pairs.append((keyword.upper(), arguments.strip()))
    return pairs


def build(uri: str, dockerfile: Path, context: Path, root: Path) -> LocalImage:
    """The image `uri` from `dockerfile` with build context `context`, laid out under `root`."""
    if not dockerfile.is_file():
        raise ImageError(f"no Dockerfile at {dockerfile} for image {uri}")
    root.mkdir(parents=True, exist_ok=True)
    workdir, environment, entrypoint, command = "/", {}, [], []
    for keyword, arguments in instructions(dockerfile):
        if keyword == "WORKDIR":
            workdir = str(Path(workdir) / arguments)
            _inside(root, workdir).mkdir(parents=True, exist_ok=True)
        elif keyword == "COPY":
            _copy(arguments, context, root, workdir, dockerfile)
        elif keyword == "ENV":
            environment.update(_env(arguments))
        elif keyword in ("ENTRYPOINT", "CMD"):
            exec_form = _exec_form(arguments, keyword, dockerfile)
            if keyword == "ENTRYPOINT":
                entrypoint, command = exec_form, []  # Docker: a new ENTRYPOINT resets CMD
            else:
                command = exec_form
    environment = {name: _localised(value, root) for name, value in environment.items()}
    return LocalImage(uri=uri, root=root, workdir=_inside(root, workdir), environment=environment,
                      entrypoint=entrypoint, command=command)


def _inside(root: Path, absolute: str) -> Path:
    return root / absolute.lstrip("/")


def _copy(arguments: str, context: Path, root: Path, workdir: str, dockerfile: Path) -> None:
    words = [w for w in shlex.split(arguments) if not w.startswith("--")]
    if len(words) != 2:
        raise ImageError(f"{dockerfile}: COPY {arguments!r}: the local cloud copies one source to one destination")
    source, destination = context / words[0], words[1]
    if not source.exists():
        raise ImageError(f"{dockerfile}: COPY source {words[0]} not found in the build context {context}")
    target = _inside(root, destination if destination.startswith("/") else str(Path(workdir) / destination))
    if destination.endswith("/"):
        target = target / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink() or target.exists():
        target.unlink()
    target.symlink_to(source.resolve(), target_is_directory=source.is_dir())


def _env(arguments: str) -> dict[str, str]:
    words = shlex.split(arguments)
    if words and "=" not in words[0]:  # legacy form: ENV NAME value with spaces
        return {words[0]: " ".join(words[1:])}
    return dict(word.split("=", 1) for word in words)


def _exec_form(arguments: str, keyword: str, dockerfile: Path) -> list[str]:
    try:
        parsed = json.loads(arguments)
    except json.JSONDecodeError:
        raise ImageError(f"{dockerfile}: {keyword} must be in exec form ([\"...\"]); got {arguments!r}") from None
    if not (isinstance(parsed, list) and all(isinstance(word, str) for word in parsed)):
        raise ImageError(f"{dockerfile}: {keyword} must be a JSON array of strings; got {arguments!r}")
    return parsed


def _localised(value: str, root: Path) -> str:
    """Absolute paths that exist in the image's folder point there; others (/tmp) stay the host's."""
    parts = []
    for part in value.split(":"):
        local = _inside(root, part) if part.startswith("/") else None
        parts.append(str(local) if local is not None and part != "/" and local.exists() else part)
    return ":".join(parts)
