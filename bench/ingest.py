"""Ingest throughput: python bench/ingest.py [--rows 100000 1000000]

Generates each size once, then times validation + tokenization + Parquet/quarantine writing on
local files. Prints rows/s per size; the last line is one JSON object with all figures (--docs:
also the table in docs/benchmarks.md).
"""

import argparse
import io
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from datagen.generator import GeneratorConfig
from datagen.writer import write_dataset
from engagement.ingest import ingest_csv
from engagement.tokenize import Tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--docs", action="store_true", help="write the table to docs/benchmarks.md")
    args = parser.parse_args()
    results = []
    for rows in args.rows:
        with tempfile.TemporaryDirectory() as out:
            write_dataset(GeneratorConfig(rows=rows), Path(out), progress=None)
            source = Path(out) / "customers.csv"
            started = time.perf_counter()
            with source.open("rb") as src, (Path(out) / "bronze.parquet").open("wb") as bronze:
                report = ingest_csv(src, bronze=bronze, quarantine=io.BytesIO(), tokenizer=Tokenizer(b"k" * 32),
                                    source_name=source.name)
            seconds = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        result = {"rows": rows, "seconds": round(seconds, 2), "rows_per_second": round(rows / seconds),
                  "accepted": report.rows_accepted, "peak_rss_mb_so_far": round(peak_mb)}
        results.append(result)
        print(f"{rows:>12,} rows  {seconds:7.2f} s  {result['rows_per_second']:>10,} rows/s  "
              f"accepted {report.rows_accepted:,}  peak RSS so far {result['peak_rss_mb_so_far']} MB")
    if args.docs:
        from report import record, table

        record("ingest", "python bench/ingest.py " + " ".join(sys.argv[1:]), table(
            ["customers", "seconds", "rows/s", "accepted", "peak RSS (MB, so far)"],
            [[f"{r['rows']:,}", r["seconds"], f"{r['rows_per_second']:,}", f"{r['accepted']:,}",
              f"{r['peak_rss_mb_so_far']:,}"] for r in results]))
    print(json.dumps({"benchmark": "ingest", "results": results}))


if __name__ == "__main__":
    main()
