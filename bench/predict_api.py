"""/predict latency: python bench/predict_api.py [--requests 2000] [--customers 1000]

Against a serving local cloud with a published run (`python -m engagement_cli run --serve` in another
terminal): sequential SigV4-signed POST /predict calls over HTTP, each for one of the first
`--customers` generated ids (CUST-00000001 …) in turn, timed end to end as a client sees them
(signing, HTTP, API Gateway's checks, the warm Lambda, S3 pointer and DynamoDB reads). Prints
the percentiles; the last line is one JSON object with `requests`, `ok`, `predict_p50_ms`,
`predict_p99_ms`, `predict_max_ms`.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from localcloud.session import SERVER, credentials, route_url  # noqa: E402
from localcloud.rest_apis import call  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--customers", type=int, default=1_000, help="ids CUST-00000001 … in turn")
    args = parser.parse_args()
    figures = {"benchmark": "predict_api", **predict_latency(args.requests, args.customers)}
    print(json.dumps(figures))


def predict_latency(requests: int, customers: int) -> dict:
    """Sequential signed POST /predict calls, timed as a client sees them; prints and returns the figures."""
    url, signer = route_url(REPO / SERVER, "/predict"), credentials(REPO / SERVER)
    call(url, "POST", {"customer_id": "CUST-00000001"}, signed=signer)  # a first call starts the worker
    seconds, ok = [], 0
    for number in range(requests):
        customer_id = f"CUST-{number % customers + 1:08d}"
        started = time.perf_counter()
        status, _ = call(url, "POST", {"customer_id": customer_id}, signed=signer)
        seconds.append(time.perf_counter() - started)
        ok += status == 200
    cuts = statistics.quantiles(seconds, n=100)
    figures = {"requests": requests, "ok": ok, "predict_p50_ms": round(cuts[49] * 1000, 1),
               "predict_p99_ms": round(cuts[98] * 1000, 1), "predict_max_ms": round(max(seconds) * 1000, 1)}
    print(f"{requests:,} sequential POST /predict: {ok:,} answered 200; p50 {figures['predict_p50_ms']} ms, "
          f"p99 {figures['predict_p99_ms']} ms, max {figures['predict_max_ms']} ms")
    return figures


if __name__ == "__main__":
    main()
