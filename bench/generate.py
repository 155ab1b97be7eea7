"""Generator throughput: python bench/generate.py [--rows 100000 1000000]

Prints rows/s and peak memory per size; the last line is one JSON object with all figures
(--docs: also the table in docs/benchmarks.md).
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_once(rows: int) -> dict:
    """One generation in a fresh process, so peak memory belongs to this size alone."""
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "datagen", "--rows", str(rows), "--out", out],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        seconds = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        csv_mb = (Path(out) / "customers.csv").stat().st_size / 1e6
    return {"rows": rows, "seconds": round(seconds, 2), "rows_per_second": round(rows / seconds),
            "peak_rss_mb_max_so_far": round(peak_mb), "csv_mb": round(csv_mb, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--docs", action="store_true", help="write the table to docs/benchmarks.md")
    args = parser.parse_args()
    results = []
    for rows in args.rows:
        result = run_once(rows)
        results.append(result)
        print(f"{rows:>12,} rows  {result['seconds']:7.2f} s  {result['rows_per_second']:>10,} rows/s  "
              f"peak RSS (largest child so far) {result['peak_rss_mb_max_so_far']} MB  CSV {result['csv_mb']} MB")
    if args.docs:
        from report import record, table

        record("generate", "python bench/generate.py " + " ".join(sys.argv[1:]), table(
            ["customers", "seconds", "rows/s", "peak RSS (MB, largest run so far)", "CSV (MB)"],
            [[f"{r['rows']:,}", r["seconds"], f"{r['rows_per_second']:,}", f"{r['peak_rss_mb_max_so_far']:,}",
              r["csv_mb"]] for r in results]))
    print(json.dumps({"benchmark": "datagen", "results": results}))


if __name__ == "__main__":
    main()
