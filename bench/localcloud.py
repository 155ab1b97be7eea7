"""Local cloud benchmark: python bench/localcloud.py [--rows 100000] [--repeat 3] [--iam enforce|off]

Runs `python -m localcloud run` (deploy cdk.out.local with cdklocal, generate, execute the state
machine) `--repeat` times and prints each run's execution time, its compute (the Training,
Inference and Ingest stages, which do the work AWS would also do), the overhead ratio (execution /
compute: the figure that holds on a noisy machine), the slowest states, and each function's and
task's peak memory against its configured memory (the REPORT lines in .localcloud/logs). The
last line is one JSON object: the median run's figures (`rows`, `execution_seconds`,
`compute_seconds`, `overhead_ratio`, `states`), `peak_rss_mb` (the largest single process of any
run) and every run. Synthesize first (make synth-local).
"""

import argparse
import json
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

REPORT = re.compile(r"^REPORT .*Memory Size: (\d+) MB Max Memory Used: (\d+) MB", re.M)
COMPUTE_STATES = ("Training", "Inference", "Ingest")


def memory_reports(since: float) -> dict[str, str]:
    """Each function's or task's last REPORT line written since `since`: 'used of size MB'."""
    reports = {}
    for log in sorted(Path(".localcloud/logs").glob("*.log")):
        if log.stat().st_mtime >= since and (found := REPORT.findall(log.read_text(errors="replace"))):
            size, used = found[-1]
            reports[log.stem] = f"{used} of {size} MB"
    return reports


def one_run(rows: int, images: list[str], iam: str = "enforce") -> dict:
    started = time.time()
    subprocess.run([sys.executable, "-m", "localcloud", "run", "--rows", str(rows), "--iam", iam, *images],
                   check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    summary = json.loads(Path(".localcloud/last-run.json").read_text())
    states = {s["state"]: s["seconds"] for s in summary["states"]}
    compute = round(sum(states.get(name, 0.0) for name in COMPUTE_STATES), 1)
    return {"status": summary["status"], "execution_seconds": summary["execution_seconds"],
            "wall_seconds": summary["wall_seconds"], "compute_seconds": compute,
            "overhead_ratio": round(summary["execution_seconds"] / compute, 2) if compute else None,
            "states": states, "max_memory_used": memory_reports(started), "iam": iam,
            "iam_decisions": summary.get("iam", {}).get("decisions", 0),
            "iam_seconds": summary.get("iam", {}).get("seconds", 0.0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1, help="runs; the median run is reported (default 1)")
    parser.add_argument("--iam", choices=("enforce", "off"), default="enforce",
                        help="off: measure the same run without IAM enforcement (default: enforce)")
    args = parser.parse_args()
    images = subprocess.run(["make", "-s", "--no-print-directory", "print-LOCAL_IMAGES"], capture_output=True,
                            text=True, check=True).stdout.split()  # the images `make run` gives the local cloud
    runs = []
    for number in range(1, args.repeat + 1):
        run = one_run(args.rows, images, args.iam)
        runs.append(run)
        slowest = sorted(run["states"].items(), key=lambda item: -item[1])[:5]
        print(f"run {number}/{args.repeat}, {args.rows:,} customers, IAM {args.iam} ({run['iam_decisions']:,} "
              f"decisions in {run['iam_seconds']} s): {run['status']} execution "
              f"{run['execution_seconds']} s, compute {run['compute_seconds']} s, overhead ratio "
              f"{run['overhead_ratio']} (wall {run['wall_seconds']} s); slowest: "
              + ", ".join(f"{name} {seconds} s" for name, seconds in slowest), flush=True)
        print("  max memory used: " + ", ".join(f"{name} {used}" for name, used in run["max_memory_used"].items()))
    median = sorted(runs, key=lambda run: run["execution_seconds"])[(len(runs) - 1) // 2]
    peak = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    print(f"median of {len(runs)}: execution {median['execution_seconds']} s, overhead ratio "
          f"{median['overhead_ratio']}; largest process peak RSS {peak} MB")
    print(json.dumps({"benchmark": "localcloud", "rows": args.rows, "iam": args.iam, "runs_succeeded": sum(
        run["status"] == "SUCCEEDED" for run in runs), "execution_seconds": median["execution_seconds"],
        "compute_seconds": median["compute_seconds"], "overhead_ratio": median["overhead_ratio"],
        "execution_seconds_all": [run["execution_seconds"] for run in runs],
        "peak_rss_mb": peak, "states": median["states"], "runs": runs}))


if __name__ == "__main__":
    main()
