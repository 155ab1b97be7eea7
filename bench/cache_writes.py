"""Local DynamoDB write ceiling: python bench/cache_writes.py [--items 100000] [--workers 4]

CacheLoad's own code (`engagement.cache.load_cache`: predictions read from S3 in batches, items
built, BatchWriteItem 25 a request) against the local cloud's moto server with its BatchWriteItem
fast path, and nothing else: the server runs alone in a child process, as in a local run, and
no other stage competes for the two cores. The figure is the most the local cloud's DynamoDB can
take, which bounds CacheLoad in `bench/localcloud.py`. The last line is one JSON object with
`items`, `seconds`, `items_per_second`, and the client's and the server's CPU microseconds per item.
"""

import argparse
import io
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
from botocore.config import Config

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "runtime")]

from engagement.cache import CacheTable, load_cache  # noqa: E402
from engagement.predictions_schema import PREDICTION_COLUMNS  # noqa: E402
from engagement.s3uri import S3Uri  # noqa: E402

SERVER = """
import logging, os, sys
os.environ["MOTO_ACCOUNT_ID"] = "000000000000"
logging.getLogger("werkzeug").setLevel(logging.ERROR)
from moto.server import ThreadedMotoServer
from localcloud import dynamodb_writes
dynamodb_writes.install()
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server._server.server_port, flush=True)
sys.stdin.readline()  # until the benchmark is done
"""


def predictions(items: int) -> bytes:
    """A predictions file with Inference's columns and types (placeholder values)."""
    placeholders = {"string": "value", "double": 0.123456789, "boolean": True, "bigint": 7,
                    "timestamp": datetime(2026, 11, 23, tzinfo=UTC)}
    columns = {name: [placeholders[kind]] * items for name, kind, _ in PREDICTION_COLUMNS}
    columns["customer_id"] = [f"c{number:09d}" for number in range(items)]
    sink = io.BytesIO()
    pq.write_table(pa.table(columns), sink)
    return sink.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=4, help="requests in flight (CacheLoad's default)")
    parser.add_argument("--docs", action="store_true", help="write the figures to docs/benchmarks.md")
    args = parser.parse_args()
    server = subprocess.Popen([sys.executable, "-c", SERVER], cwd=REPO, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    endpoint = f"http://127.0.0.1:{server.stdout.readline().strip()}"
    session = boto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")
    s3 = session.client("s3", endpoint_url=endpoint)
    dynamodb = session.client("dynamodb", endpoint_url=endpoint, config=Config(parameter_validation=False))
    s3.create_bucket(Bucket="predictions")
    s3.put_object(Bucket="predictions", Key="run/part-0.parquet", Body=predictions(args.items))
    dynamodb.create_table(TableName="cache", BillingMode="PAY_PER_REQUEST",
                          KeySchema=[{"AttributeName": "customer_id", "KeyType": "HASH"},
                                     {"AttributeName": "run_id", "KeyType": "RANGE"}],
                          AttributeDefinitions=[{"AttributeName": "customer_id", "AttributeType": "S"},
                                                {"AttributeName": "run_id", "AttributeType": "S"}])
    server_cpu_before = _cpu_seconds(server.pid)
    started, client_cpu = time.perf_counter(), time.process_time()
    written = load_cache(s3, CacheTable(dynamodb, "cache"), S3Uri.parse("s3://predictions/run/"), run_id="bench",
                         workers=args.workers)
    seconds, client_cpu = time.perf_counter() - started, time.process_time() - client_cpu
    server_cpu = _cpu_seconds(server.pid) - server_cpu_before
    server.communicate("done\n")
    figures = {"benchmark": "cache_writes", "items": written, "workers": args.workers, "seconds": round(seconds, 1),
               "items_per_second": round(written / seconds),
               "client_cpu_us_per_item": round(client_cpu / written * 1e6),
               "server_cpu_us_per_item": round(server_cpu / written * 1e6)}
    print(f"{written:,} items in {figures['seconds']} s: {figures['items_per_second']:,} items/s; CPU per item: "
          f"client {figures['client_cpu_us_per_item']} us, server {figures['server_cpu_us_per_item']} us")
    if args.docs:
        from report import record, table

        record("cache_writes", "python bench/cache_writes.py " + " ".join(sys.argv[1:]), table(
            ["items", "requests in flight", "seconds", "items/s", "client CPU µs/item", "server CPU µs/item"],
            [[f"{written:,}", args.workers, figures["seconds"], f"{figures['items_per_second']:,}",
              figures["client_cpu_us_per_item"], figures["server_cpu_us_per_item"]]]))
    print(json.dumps(figures))


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux's /proc, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
