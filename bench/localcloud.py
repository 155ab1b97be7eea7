"""Local cloud benchmark: python bench/localcloud.py [--rows 100000]

Runs `python -m localcloud run` (deploy cdk.out locally, generate, execute the state machine)
and prints the execution time, each state's duration and the peak memory of the run; the last
line is one JSON object. Synthesize first (make synth).
"""

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000])
    args = parser.parse_args()
    results = []
    for rows in args.rows:
        subprocess.run([sys.executable, "-m", "localcloud", "run", "--rows", str(rows)], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        summary = json.loads(Path(".localcloud/last-run.json").read_text())
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        slowest = sorted(summary["states"], key=lambda s: -s["seconds"])[:5]
        results.append({"rows": rows, "status": summary["status"], "execution_seconds": summary["execution_seconds"],
                        "wall_seconds": summary["wall_seconds"], "peak_rss_mb_largest_process": round(peak),
                        "states": {s["state"]: s["seconds"] for s in summary["states"]}})
        print(f"{rows:>10,} customers: {summary['status']} execution {summary['execution_seconds']} s "
              f"(wall {summary['wall_seconds']} s), peak RSS {round(peak)} MB; slowest: "
              + ", ".join(f"{s['state']} {s['seconds']} s" for s in slowest))
    print(json.dumps({"benchmark": "localcloud", "results": results}))


if __name__ == "__main__":
    main()
