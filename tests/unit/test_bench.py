"""The benchmark scripts run (on tiny sizes) and end with their JSON line; figures come from real runs."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("script", ["bench/generate.py", "bench/ingest.py"])
def test_benchmark_prints_its_figures(script):
    result = subprocess.run(
        [sys.executable, script, "--rows", "2000"], cwd=REPO, capture_output=True, text=True, check=True,
        env={"PYTHONPATH": f"{REPO}:{REPO / 'runtime'}", "PATH": "/usr/bin:/bin"},
    )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    [measured] = figures["results"]
    assert measured["rows"] == 2000 and measured["rows_per_second"] > 0
