"""checkov, an independent scanner, over the synthesized templates: no failed check, and every
skip carries its reason (template metadata written next to the code that needs it)."""

import json
import subprocess
from pathlib import Path

import pytest

CHECKOV = Path(__file__).resolve().parents[2] / ".venv-checkov" / "bin" / "checkov"


@pytest.fixture(scope="module")
def scan(synthesized) -> list[dict]:
    assert CHECKOV.is_file(), "checkov is not installed: make deps"
    result = subprocess.run([str(CHECKOV), "-d", str(synthesized.outdir), "--framework", "cloudformation",
                             "--output", "json", "--compact"], capture_output=True, text=True)
    reports = json.loads(result.stdout)
    return reports if isinstance(reports, list) else [reports]


def test_checkov_finds_no_failed_check(scan):
    failed = [(check["check_id"], check["resource"], check["file_path"])
              for report in scan for check in report["results"].get("failed_checks", [])]
    assert failed == []
    assert sum(report["summary"]["passed"] for report in scan) > 400


def test_every_checkov_skip_says_why(scan):
    skipped = [check for report in scan for check in report["results"].get("skipped_checks", [])]
    assert skipped
    for check in skipped:
        assert len(check["check_result"].get("suppress_comment", "")) >= 40, check["check_id"]


def test_checkov_would_fail_an_insecure_template(tmp_path):
    (tmp_path / "insecure.template.json").write_text(json.dumps({"Resources": {
        "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {}}}}))
    result = subprocess.run([str(CHECKOV), "-d", str(tmp_path), "--framework", "cloudformation", "--output", "json",
                             "--quiet", "--compact"], capture_output=True, text=True)
    assert json.loads(result.stdout)["summary"]["failed"] > 0
