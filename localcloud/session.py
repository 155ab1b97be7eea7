"""A local cloud session as a library: start one and deploy an app to it, run its state machine
with live progress and a summary, serve it to clients (server.json) and find its REST routes.
The command lines (`python -m localcloud`, and the product's own) compose these."""

import argparse
import json
import logging
import os
import shutil
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path

from deployment.assembly import AssemblyError
from localcloud.images import ImageError


class InputError(Exception):
    """A command-line input that cannot be used (said before anything starts)."""


# What a command line answers with `error: …` and exit 1, instead of a traceback.
USAGE_ERRORS = (AssemblyError, ImageError, InputError)


STATE = Path(".localcloud")
LAST_RUN = STATE / "last-run.json"
SERVER = STATE / "server.json"
SERVING = STATE / "serving"  # `deploy` and `up` work here, leaving the last run's tables to `sql`


def execute(cloud, run_input: dict, *, started: float) -> dict:
    """Start the deployed state machine on `run_input`, print its progress live, and return the
    run's summary: each state's time and counts, the output, the views, what each bucket holds and
    what IAM decided (`record` keeps it for `status`)."""
    from localcloud.progress import Progress

    progress = Progress(describe_map_run=lambda arn: cloud.client("stepfunctions").describe_map_run(mapRunArn=arn))
    name = datetime.now().strftime("local-%Y%m%d-%H%M%S")
    print(f"\nstarting execution {name}\n", flush=True)
    result = cloud.run(name=name, run_input=run_input, on_event=progress.event, on_poll=progress.heartbeat)
    summary = progress.summary(result, wall_seconds=time.perf_counter() - started, views=views(cloud),
                               count_rows=lambda table: count_rows(cloud, table))
    summary["machine"] = {"cpus": os.cpu_count()}
    summary["bucket_bytes"] = bucket_bytes(cloud)
    summary["iam"] = {"decisions": cloud.iam.decisions, "denials": cloud.iam.denials,
                      "seconds": round(cloud.iam.seconds, 2)}
    return summary


def record(summary: dict, state: Path = STATE) -> None:
    state.mkdir(parents=True, exist_ok=True)
    (state / LAST_RUN.name).write_text(json.dumps(summary, indent=2, default=str) + "\n")


def quiet_server_logs() -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("moto").setLevel(logging.CRITICAL)


def start(assembly: Path, state: Path, images: dict[str, Path], converse=None, enforce_iam: bool = True):
    from localcloud.cloud import LocalCloud

    if not (assembly / "manifest.json").is_file():
        raise AssemblyError(f"{assembly}/manifest.json not found: synthesize the app first (make synth-local)")
    for stale in ("athena", "athena.duckdb", "athena.duckdb.wal", "logs", "images"):
        path = state / stale
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    quiet_server_logs()
    cloud = LocalCloud(state, images=images, converse=converse, enforce_iam=enforce_iam)
    cloud.start()
    try:
        started = time.perf_counter()
        cloud.deploy(assembly)
        print(f"deployed {len(cloud.deployment.stacks)} stacks with cdklocal in {time.perf_counter() - started:.1f} s",
              flush=True)
    except Exception:
        cloud.stop()
        raise
    return cloud


def views(cloud) -> list[str]:
    """Every view in the catalog, as `database.view`."""
    glue = cloud.client("glue")
    return [f"{database['Name']}.{table['Name']}"
            for page in glue.get_paginator("get_databases").paginate() for database in page["DatabaseList"]
            for tables in glue.get_paginator("get_tables").paginate(DatabaseName=database["Name"])
            for table in tables["TableList"] if table.get("TableType") == "VIRTUAL_VIEW"]


def count_rows(cloud, table: str) -> int | None:
    from localcloud.athena_duckdb import AthenaSqlError

    try:
        return cloud.query(f"SELECT count(*) FROM {table}")[0][0]
    except AthenaSqlError:
        return None  # gone since it was created


def bucket_bytes(cloud) -> dict[str, int]:
    """Bytes each bucket holds (latest versions), for reckoning what a run stores."""
    s3 = cloud.client("s3")
    sizes = {}
    for bucket in s3.list_buckets()["Buckets"]:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"])
        sizes[bucket["Name"]] = sum(item["Size"] for page in pages for item in page.get("Contents", []))
    return sizes


def serving(server_file: Path) -> dict | None:
    """What server.json says of the cloud serving now (None: none, or a stale file)."""
    if not server_file.is_file():
        return None
    server = json.loads(server_file.read_text())
    return server if process(server["pid"]) == server.get("process") else None


def deployment_details(cloud) -> dict:
    """What server.json tells clients of the deployed app: its state machine and Athena workgroup."""
    exports = cloud.deployment.exports
    return {"state_machine_arn": cloud.deployment.state_machine_arn,
            "workgroup": next((v for k, v in exports.items() if k.endswith("-WorkgroupName")), "primary")}


def serve(cloud, details: dict, commands: list[str], stop_when_done: bool = True) -> int:
    """Serve until Ctrl-C or `down`, with the endpoint in .localcloud/server.json."""
    from localcloud.cloud import CDKLOCAL_KEEPS

    SERVER.parent.mkdir(parents=True, exist_ok=True)
    # "endpoint" for boto3 and the aws CLI; "endpoint_localhost" for cdklocal, whose S3 asset upload
    # addresses buckets in a way the server resolves only on a host name.
    # "credentials": this session's operator keys; the file is the owner's alone (0600, in a 0700 folder).
    SERVER.write_text(json.dumps({"pid": os.getpid(), "process": process(os.getpid()), "endpoint": cloud.endpoint,
                                  "endpoint_localhost": cloud.cdk_environment()["AWS_ENDPOINT_URL"],
                                  "credentials": cloud.operator.environment, "rest_apis": cloud.apis.urls(),
                                  **details}))
    print(f"local cloud serving at {cloud.endpoint} (Ctrl-C or `python -m localcloud down` to stop)")
    print("  only you can use it: sign with this session's keys (also in .localcloud/server.json, readable by you "
          "alone):\n  export " + " ".join(f"{k}={v}" for k, v in cloud.operator.environment.items())
          + f" AWS_ENVAR_ALLOWLIST={CDKLOCAL_KEEPS}    # the last: cdklocal passes the keys on")
    for command in commands:
        print(f"  {command}")
    for name, url in cloud.apis.urls().items():
        print(f"  REST API {name}: {url}/<path>   (AWS_IAM methods need a SigV4 signature for execute-api)")
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    try:
        while not stop:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        if stop_when_done:
            cloud.stop()
        SERVER.unlink(missing_ok=True)
    return 0


def credentials(server_file: Path):
    """The serving cloud's operator credentials (botocore Credentials), from its server.json."""
    from localcloud.owner import Operator

    return Operator.from_environment(json.loads(server_file.read_text())["credentials"]).credentials


def route_url(server_file: Path, path: str) -> str:
    """The URL of `path` on the serving cloud's REST API that declares it."""
    if not server_file.is_file():
        raise InputError("no local cloud is serving: start one with `python -m localcloud up`, or a run "
                         "with --serve (make run's command takes it)")
    server = json.loads(server_file.read_text())
    found = route(server["endpoint"], server["credentials"], server.get("rest_apis", {}), path)
    if found is None:
        raise InputError(f"no deployed REST API serves {path}")
    return found


def operator_client(service: str, endpoint: str, keys: dict[str, str]):
    """A boto3 client of the serving cloud, signed with the session operator's `keys` (server.json's)."""
    import boto3

    from localcloud.owner import Operator

    operator = Operator.from_environment(keys)
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=operator.access_key, aws_secret_access_key=operator.secret_key)


def route(endpoint: str, keys: dict[str, str], stage_urls: dict[str, str], path: str) -> str | None:
    """The stage URL + `path` of the REST API that declares `path`; `keys`: the operator's."""
    apigateway = operator_client("apigateway", endpoint, keys)
    for stage_url in stage_urls.values():
        api_id = stage_url.rstrip("/").split("/")[-2]
        if any(resource["path"] == path for resource in apigateway.get_resources(restApiId=api_id)["items"]):
            return stage_url + path
    return None


def process(pid: int) -> str | None:
    """A process's start time and command line, which a reused pid does not share."""
    result = subprocess.run(["ps", "-o", "lstart=,command=", "-p", str(pid)], capture_output=True, text=True)
    return result.stdout.strip() or None


def image_source(value: str) -> tuple[str, Path]:
    """`URI=DOCKERFILE`, as --image takes it."""
    uri, separator, dockerfile = value.partition("=")
    if not (uri and separator and dockerfile):
        raise argparse.ArgumentTypeError(f"expected URI=DOCKERFILE, got {value!r}")
    return uri, Path(dockerfile)


def converse(name: str | None):
    """The stand-in model named MODULE:FUNCTION that answers Bedrock's Converse (None: none)."""
    from localcloud import bedrock_runtime

    try:
        return bedrock_runtime.load(name) if name else None
    except ValueError as error:
        raise InputError(str(error)) from None


def add_cloud_options(parser: argparse.ArgumentParser, *, model: bool = True) -> None:
    """--image (and --converse): what the local cloud stands in with for a registry and Bedrock."""
    if model:
        parser.add_argument("--converse", metavar="MODULE:FUNCTION",
                            help="the stand-in model that answers Bedrock's Converse (there is no Bedrock locally)")
    parser.add_argument("--image", action="append", default=[], type=image_source, metavar="URI=DOCKERFILE",
                        help="run task definitions naming image URI from this Dockerfile (build context: "
                             "the repository root); repeatable")
