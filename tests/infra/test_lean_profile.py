"""`-c profile=lean`: the fixed cost cut without dropping encryption, least privilege or the
private tasks — and cdk-nag clean (the synthesis raises on any unacknowledged finding)."""

import json
import os
import subprocess
import sys
from pathlib import Path

from cost.inventory import read_inventory
from cost.model import cost_lines, load_prices
from cost.report import totals
from cost.usage import read_usage

MEASURED_RUN = Path(__file__).resolve().parents[2] / "docs" / "cost_run.json"


def resources(app, kind: str) -> dict[str, dict]:
    return {f"{stack}/{logical_id}": resource for stack, template in app.raw_templates.items()
            for logical_id, resource in template["Resources"].items() if resource["Type"] == kind}


def test_only_the_tasks_endpoints_in_one_az_and_one_customer_managed_key(synthesized_lean):
    interface = [e["Properties"] for e in resources(synthesized_lean, "AWS::EC2::VPCEndpoint").values()
                 if e["Properties"].get("VpcEndpointType") == "Interface"]
    services = sorted(e["ServiceName"]["Fn::Join"][1][-1] for e in interface)
    assert services == [".ecr.api", ".ecr.dkr", ".logs"] and all(len(e["SubnetIds"]) == 1 for e in interface)
    assert list(resources(synthesized_lean, "AWS::KMS::Key")) == ["EngagementData/DataKey2A0DE9E6"]
    topic = next(iter(resources(synthesized_lean, "AWS::SNS::Topic").values()))
    assert "DataKeyArn" in str(topic["Properties"]["KmsMasterKeyId"])


def test_lambdas_run_outside_the_vpc_and_the_tasks_inside_it(synthesized_lean):
    functions = {name: f["Properties"] for name, f in resources(synthesized_lean, "AWS::Lambda::Function").items()
                 if f["Properties"].get("Runtime", "").startswith("python")}
    assert len(functions) == 12 and not [name for name, f in functions.items() if "VpcConfig" in f]
    pipeline = json.dumps(synthesized_lean.raw_templates["EngagementPipeline"])
    assert pipeline.count('\\"AssignPublicIp\\":\\"DISABLED\\"') == 2  # training and inference, private


def test_lean_meets_the_budget_at_weekly_runs_of_the_measured_100k_run(synthesized_lean, synthesized):
    usage, prices = read_usage(MEASURED_RUN), load_prices()
    lean = totals(cost_lines(read_inventory(synthesized_lean.outdir), usage, prices), "weekly")
    standard = totals(cost_lines(read_inventory(synthesized.outdir), usage, prices), "weekly")
    assert lean.month <= 25.0 and lean.per_run <= 0.50, (lean.month, lean.per_run)
    assert standard.month > 4 * lean.month  # the fixed cost is what the profile cuts


def test_an_unknown_profile_is_refused_by_name_before_anything_is_synthesized(tmp_path):
    repo = MEASURED_RUN.parents[1]
    result = subprocess.run([sys.executable, "app.py"], cwd=repo, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "CDK_CONTEXT_JSON": json.dumps({"profile": "thin"}),
                                 "CDK_OUTDIR": str(tmp_path)})
    assert result.returncode == 1 and "context profile: expected one of standard, lean, got 'thin'" in result.stderr
    assert list(tmp_path.iterdir()) == []
