"""Local cloud benchmark: python bench/localcloud.py [--rows 100000]

Runs `python -m localcloud run` (deploy cdk.out.local with cdklocal, generate, execute the state machine)
and prints the execution time, each state's duration, the peak memory of the run and each
function's and task's peak against its configured memory (the REPORT lines in .localcloud/logs);
the last line is one JSON object. Synthesize first (make synth-local).
"""

import argparse
import json
import resource
import re
import subprocess
import sys
import time
from pathlib import Path

REPORT = re.compile(r"^REPORT .*Memory Size: (\d+) MB Max Memory Used: (\d+) MB", re.M)


def memory_reports(since: float) -> dict[str, str]:
    """Each function's or task's last REPORT line written since `since`: 'used of size MB'."""
    reports = {}
    for log in sorted(Path(".localcloud/logs").glob("*.log")):
        if log.stat().st_mtime >= since and (found := REPORT.findall(log.read_text(errors="replace"))):
            size, used = found[-1]
            reports[log.stem] = f"{used} of {size} MB"
    return reports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000])
    args = parser.parse_args()
    results = []
    images = subprocess.run(["make", "-s", "--no-print-directory", "print-LOCAL_IMAGES"], capture_output=True,
                            text=True, check=True).stdout.split()  # the images `make run` gives the local cloud
    for rows in args.rows:
        started = time.time()
        subprocess.run([sys.executable, "-m", "localcloud", "run", "--rows", str(rows), *images], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        summary = json.loads(Path(".localcloud/last-run.json").read_text())
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        slowest = sorted(summary["states"], key=lambda s: -s["seconds"])[:5]
        results.append({"rows": rows, "status": summary["status"], "execution_seconds": summary["execution_seconds"],
                        "wall_seconds": summary["wall_seconds"], "peak_rss_mb_largest_process": round(peak),
                        "states": {s["state"]: s["seconds"] for s in summary["states"]},
                        "max_memory_used": memory_reports(started)})
        print(f"{rows:>10,} customers: {summary['status']} execution {summary['execution_seconds']} s "
              f"(wall {summary['wall_seconds']} s), peak RSS {round(peak)} MB; slowest: "
              + ", ".join(f"{s['state']} {s['seconds']} s" for s in slowest))
        print("  max memory used: " + ", ".join(f"{name} {used}" for name, used in results[-1]["max_memory_used"].items()))
    print(json.dumps({"benchmark": "localcloud", "results": results}))


if __name__ == "__main__":
    main()
