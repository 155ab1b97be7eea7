"""Local cloud benchmark: python bench/localcloud.py [--rows 100000 [1000000 ...]] [--repeat 3] [--iam enforce|off]

Runs `python -m engagement_cli run` (deploy cdk.out.local with cdklocal, generate, execute the state
machine) `--repeat` times per size and prints each run's execution time, its compute (the
Training, ScoreShards and IngestFiles states, which do the work AWS would also do), the overhead ratio
(execution / compute: the figure that holds on a noisy machine), the slowest states, and each
function's and task's peak memory against its configured memory (the largest of its REPORT lines
in .localcloud/logs written by the run: a fanned-out task's largest shard). Given two sizes or
more, it prints each function's and task's peak at every size and the change from the smallest:
memory that does not grow with customers changes by less than 10%. The last line is one JSON
object: per size, the median run's figures (`execution_seconds`, `compute_seconds`,
`overhead_ratio`, `states`, `max_memory_used`), and `peak_rss_mb` (the largest single process of
any run). Synthesize first (make synth-local), or give --context "-c stageMemoryMb=1024 ..." to
synthesize with it (and with the defaults again afterwards).
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
COMPUTE_STATES = ("Training", "ScoreShards", "IngestFiles")
LOGS = Path(".localcloud/logs")
FLAT = 0.10  # memory that does not grow with customers changes by less than this between sizes


def memory_reports(since: float) -> dict[str, dict]:
    """Each function's or task's largest REPORT line in the logs the run wrote (the local cloud
    starts each run with none; shards of a task append to one): {"used": MB, "size": MB}. Names
    lose the deployment's random suffix, so sizes compare."""
    reports = {}
    for log in sorted(LOGS.glob("*.log")):
        if log.stat().st_mtime < since:
            continue
        found = REPORT.findall(log.read_text(errors="replace"))
        if found:
            size, used = max(found, key=lambda report: int(report[1]))
            reports[re.sub(r"[0-9A-F]{8}(-[0-9A-Z]+)?$", "", log.stem)] = {"used": int(used), "size": int(size)}
    return reports


def one_run(rows: int, images: list[str], iam: str = "enforce", file_rows: int | None = None) -> dict:
    started = time.time()
    files = ["--file-rows", str(file_rows)] if file_rows else []
    subprocess.run([sys.executable, "-m", "engagement_cli", "run", "--rows", str(rows), "--iam", iam, *files, *images],
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


def flatness(medians: dict[int, dict]) -> list[str]:
    """Per function and task: its peak at each size and the change from the smallest size."""
    sizes = sorted(medians)
    names = sorted(set().union(*(medians[rows]["max_memory_used"] for rows in sizes)))
    lines = ["peak memory by customers (MB): " + " | ".join(f"{rows:,}" for rows in sizes) + " | change | flat"]
    for name in names:
        used = [medians[rows]["max_memory_used"].get(name, {}).get("used") for rows in sizes]
        if None in used:
            continue
        change = (used[-1] - used[0]) / used[0]
        lines.append(f"  {name}: " + " | ".join(f"{u:,}" for u in used) + f" | {change:+.1%} | "
                     + ("yes" if abs(change) < FLAT else "NO"))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000], help="one size or more (default 100000)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per size; the median run is reported (default 1)")
    parser.add_argument("--iam", choices=("enforce", "off"), default="enforce",
                        help="off: measure the same run without IAM enforcement (default: enforce)")
    parser.add_argument("--file-rows", type=int, metavar="N",
                        help="upload as files of at most N rows (equal upload files at every size)")
    parser.add_argument("--context", default="", metavar='"-c <key>=<value> ..."',
                        help="synthesize the app with this context first (make synth-local CONTEXT=...), and "
                             "with the defaults again afterwards")
    parser.add_argument("--docs", action="store_true", help="write the tables to docs/benchmarks.md")
    args = parser.parse_args()
    images = subprocess.run(["make", "-s", "--no-print-directory", "print-LOCAL_IMAGES"], capture_output=True,
                            text=True, check=True).stdout.split()  # the images `make run` gives the local cloud
    if args.context:
        synthesize(args.context)
    try:
        medians = {rows: measured(rows, args.repeat, images, args.iam, args.file_rows) for rows in args.rows}
    finally:
        if args.context:
            synthesize("")
    if len(medians) > 1:
        print("\n".join(flatness(medians)))
    peak = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    print(f"largest process peak RSS {peak} MB")
    if args.docs:
        from report import record

        command = "python bench/localcloud.py " + " ".join(sys.argv[1:])
        name = "localcloud" + (f" --file-rows {args.file_rows}" if args.file_rows else "") + \
            (" (less memory, smaller units)" if args.context else "")
        record(name, command.replace(f"--context {args.context}", f"--context '{args.context}'"), docs_tables(medians))
    print(json.dumps({"benchmark": "localcloud", "iam": args.iam, "peak_rss_mb": peak,
                      "by_rows": {str(rows): median for rows, median in medians.items()}}))


def synthesize(context: str) -> None:
    print(f"make synth-local CONTEXT={context!r}", flush=True)
    subprocess.run(["make", "-s", "synth-local", f"CONTEXT={context}"], check=True, stdout=subprocess.DEVNULL)


def docs_tables(medians: dict[int, dict]) -> str:
    """Execution by size, and each function's and task's peak memory by size."""
    from report import table

    sizes = sorted(medians)
    times = table(["customers", "execution s", "compute s", "slowest states"], [
        [f"{rows:,}", medians[rows]["execution_seconds"], medians[rows]["compute_seconds"],
         ", ".join(f"{name} {seconds} s" for name, seconds in
                   sorted(medians[rows]["states"].items(), key=lambda item: -item[1])[:3])] for rows in sizes])
    names = sorted(set().union(*(medians[rows]["max_memory_used"] for rows in sizes)))
    memory = table(["function or task", *(f"{rows:,} (MB)" for rows in sizes)], [
        [name, *(medians[rows]["max_memory_used"].get(name, {}).get("used", "–") for rows in sizes)] for name in names])
    return times + "\n\n" + memory


def measured(rows: int, repeat: int, images: list[str], iam: str, file_rows: int | None) -> dict:
    runs = []
    for number in range(1, repeat + 1):
        run = one_run(rows, images, iam, file_rows)
        runs.append(run)
        slowest = sorted(run["states"].items(), key=lambda item: -item[1])[:5]
        print(f"run {number}/{repeat}, {rows:,} customers, IAM {iam} ({run['iam_decisions']:,} "
              f"decisions in {run['iam_seconds']} s): {run['status']} execution "
              f"{run['execution_seconds']} s, compute {run['compute_seconds']} s, overhead ratio "
              f"{run['overhead_ratio']} (wall {run['wall_seconds']} s); slowest: "
              + ", ".join(f"{name} {seconds} s" for name, seconds in slowest), flush=True)
        print("  max memory used: " + ", ".join(f"{name} {m['used']:,} of {m['size']:,} MB"
                                               for name, m in run["max_memory_used"].items()))
    median = sorted(runs, key=lambda run: run["execution_seconds"])[(len(runs) - 1) // 2]
    print(f"median of {len(runs)} at {rows:,}: execution {median['execution_seconds']} s, overhead ratio "
          f"{median['overhead_ratio']}")
    return {**median, "runs_succeeded": sum(run["status"] == "SUCCEEDED" for run in runs),
            "execution_seconds_all": [run["execution_seconds"] for run in runs]}


if __name__ == "__main__":
    main()
