"""The cloud assembly the local cloud deploys, synthesized once per session as `make run` does."""

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def local_assembly() -> Path:
    """`make synth-local`: the app with the local context (cdk.out.local), real assets included."""
    result = subprocess.run(["make", "--no-print-directory", "synth-local"], cwd=REPO, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return REPO / "cdk.out.local"


@pytest.fixture(scope="session")
def local_images() -> dict[str, Path]:
    """The images `make run` gives the local cloud (LOCAL_IMAGES in the Makefile): URI -> Dockerfile."""
    from localcloud.session import image_source

    stated = subprocess.run(["make", "-s", "--no-print-directory", "print-LOCAL_IMAGES"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split()
    assert stated[::2] == ["--image"] * (len(stated) // 2), stated
    return {uri: REPO / dockerfile for uri, dockerfile in map(image_source, stated[1::2])}
