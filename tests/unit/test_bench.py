"""The benchmark scripts run (on tiny sizes) and end with their JSON line; figures come from real runs."""

import json
import os
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


def test_ml_benchmark_prints_the_figures_the_issue_names(tmp_path):
    result = subprocess.run(
        [sys.executable, "bench/ml.py", "--rows", "4000", "--model-card", str(tmp_path / "card")], cwd=REPO,
        capture_output=True, text=True, check=True,
        env={"PYTHONPATH": f"{REPO}:{REPO / 'runtime'}:{REPO / 'ml_container'}", "PATH": "/usr/bin:/bin",
             "MPLCONFIGDIR": str(tmp_path)},
    )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    required = {"rows", "train_seconds_total", "score_and_explain_seconds", "engagement_r2", "engagement_r2_ceiling",
                "churn_roc_auc", "churn_roc_auc_ceiling", "churn_recall_at_threshold", "ltv_p10_p90_coverage",
                "anomalies_flagged", "anomaly_flag_precision", "anomaly_flag_recall", "explanation_top5_overlap_vs_exact", "peak_rss_mb"}
    assert required <= set(figures) and figures["rows"] == 4000
    assert (tmp_path / "card" / "model_card.md").exists()


def test_cache_write_benchmark_writes_every_item_through_the_local_server():
    result = subprocess.run(
        [sys.executable, "bench/cache_writes.py", "--items", "600"], cwd=REPO, capture_output=True, text=True,
        check=True, env={"PYTHONPATH": f"{REPO}:{REPO / 'runtime'}", "PATH": "/usr/bin:/bin"},
    )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["items"] == 600 and figures["items_per_second"] > 0
    assert figures["server_cpu_us_per_item"] > 0 and figures["client_cpu_us_per_item"] > 0


def test_the_local_cloud_benchmark_reads_each_runs_largest_report_and_compares_sizes(tmp_path, monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_localcloud", REPO / "bench" / "localcloud.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.chdir(tmp_path)
    logs = tmp_path / ".localcloud" / "logs"
    logs.mkdir(parents=True)
    old = logs / "EngagementPipeline-PublishFunctionBBCC1092-HUA98QEQA3UT.log"
    old.write_text("REPORT Duration: 9 ms Memory Size: 512 MB Max Memory Used: 60 MB\n")
    os.utime(old, (1, 1))  # written before the run
    task = logs / "ecs-EngagementMlInferenceTaskTaskDefinition36F744C9.log"
    task.write_text("".join(f"REPORT Duration: 9 ms Memory Size: 4096 MB Max Memory Used: {used} MB\n"
                            for used in (800, 950, 900)))  # three shards
    (logs / "EngagementPipeline-IngestFunction83726A21-RT8M3YK0LU43.log").write_text(
        "REPORT RequestId: a Duration: 5 ms Memory Size: 1024 MB Max Memory Used: 300 MB\n")
    reports = bench.memory_reports(since=100)
    assert reports == {"ecs-EngagementMlInferenceTaskTaskDefinition": {"used": 950, "size": 4096},
                       "EngagementPipeline-IngestFunction": {"used": 300, "size": 1024}}
    medians = {100_000: {"max_memory_used": reports},
               1_000_000: {"max_memory_used": {**reports, "EngagementPipeline-IngestFunction": {"used": 420, "size": 1024}}}}
    lines = bench.flatness(medians)
    assert lines[1:] == ["  EngagementPipeline-IngestFunction: 300 | 420 | +40.0% | NO",
                         "  ecs-EngagementMlInferenceTaskTaskDefinition: 950 | 950 | +0.0% | yes"]


def test_the_iam_benchmark_counts_the_grants_a_run_used(tmp_path):
    role = "arn:aws:iam::000000000000:role/Stage"
    statement = {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::b/runs/*"}
    (tmp_path / "iam-policies.json").write_text(json.dumps(
        {role: [{"name": "Stage/p", "document": {"Statement": [statement]}}]}))
    (tmp_path / "iam.jsonl").write_text(json.dumps({"principal": role, "action": "s3:GetObject",
                                                    "resource": "arn:aws:s3:::b/runs/r1/a", "decision": "allow",
                                                    "reason": "allowed"}) + "\n")
    result = subprocess.run([sys.executable, "bench/iam.py", "--logs", str(tmp_path)], cwd=REPO,
                            capture_output=True, text=True, check=True)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "decisions": 1, "denials": 0, "roles": 1, "grants": 2, "grants_used": 1}
    assert "`Stage`  1 of 2  1" in result.stdout
