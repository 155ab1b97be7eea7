"""`python -m localcloud plan`: what `make run` prints about the synthesized app."""

import pytest

from localcloud.__main__ import main
from deployment.assembly import AssemblyError, read_stacks


def test_plan_lists_every_stack_with_its_resources(synthesized, capsys):
    assert main(["plan", str(synthesized.outdir)]) == 0
    out = capsys.readouterr().out
    assert "EngagementData: " in out and "(termination protection)" in out
    assert "EngagementNetwork: " in out
    assert "9  AWS::S3::Bucket" in out
    total = sum(len(template["Resources"]) for template in synthesized.raw_templates.values())
    assert f"{len(synthesized.raw_templates)} stacks, {total} resources" in out


def test_plan_without_a_synthesized_app_says_what_to_do(tmp_path, capsys):
    assert main(["plan", str(tmp_path)]) == 1
    assert "manifest.json not found: synthesize the app first (make synth)" in capsys.readouterr().err
    with pytest.raises(AssemblyError):
        read_stacks(tmp_path)
