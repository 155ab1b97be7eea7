"""`python -m localcloud <command>`: the embedded local cloud's command line.

    plan [cdk.out.local]         stacks and resources a deployment would create
    run [--rows N] [--seed S]    start the local cloud, deploy cdk.out.local to it with cdklocal,
                                 generate N customers, run the state machine with live progress,
                                 print a summary
    run --input FILE.csv         the same on your own CSV: the pipeline's Ingest validates it against
                                 the data contract (bad rows quarantined with a reason; a file it
                                 cannot read fails the run, and nothing is published)
    run --file-rows N            upload the CSV as files of at most N rows each (at line ends,
                                 the header in each) under one prefix: an upload of many files
    --image URI=DOCKERFILE       (run, deploy, up) the image task definitions name, from its
                                 Dockerfile: no Docker needed (see localcloud/images.py)
    sql "<query>"                query the last run's tables and views (Athena SQL, on DuckDB)
    status                       the last run's summary
    deploy                       deploy into a throwaway local cloud with cdklocal and report
    up [--empty] / down          keep a local cloud serving on a port, deployed (or empty, for your
                                 own `cdklocal deploy`), for `aws --endpoint-url` and awslocal
    run --serve                  a run, then serving as `up` does, with the run published
    predict CUSTOMER_ID [--json] POST /predict (SigV4-signed) to the serving cloud: the published
                                 run's outputs and top-5 reasons for one customer
    ask "QUESTION" [--json]      POST /ask: the assistant's answer, its tool calls and sources
    env                          `export` lines for AWS clients of the serving cloud: its endpoint
                                 and this session's keys (eval "$(python -m localcloud env)")
    --converse MODULE:FUNCTION   (run, up) the stand-in model that answers Bedrock's Converse
"""

import argparse
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from deployment.assembly import AssemblyError, read_stacks
from localcloud.images import ImageError

class InputError(Exception):
    """A command-line input that cannot be used (said before anything starts)."""


STATE = Path(".localcloud")
LAST_RUN = STATE / "last-run.json"
SERVER = STATE / "server.json"
# Asked through the deployed /ask after a successful run, for the summary.
EXAMPLE_QUESTIONS = ("Do mobile users engage more than desktop users?",
                     "What's the predicted engagement uplift if we convert 10% of free users to premium?")
SERVING = STATE / "serving"  # `deploy` and `up` work here, leaving the last run's tables to `sql`


def plan(assembly_dir: Path) -> None:
    """Print the stacks and resources a deployment of the assembly would create."""
    stacks = read_stacks(assembly_dir)
    total = 0
    for stack in stacks:
        counts = stack.resource_counts()
        total += sum(counts.values())
        flags = []
        if stack.termination_protection:
            flags.append("termination protection")
        if stack.depends_on:
            flags.append("after " + ", ".join(stack.depends_on))
        suffix = f"  ({'; '.join(flags)})" if flags else ""
        print(f"\n{stack.name}: {sum(counts.values())} resources{suffix}")
        for resource_type, count in sorted(counts.items()):
            print(f"  {count:4d}  {resource_type}")
    print(f"\n{len(stacks)} stacks, {total} resources, from {assembly_dir}/")


def _quiet_server_logs() -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("moto").setLevel(logging.CRITICAL)


def _start(assembly: Path, state: Path, images: dict[str, Path], converse=None, enforce_iam: bool = True):
    from localcloud.cloud import LocalCloud

    if not (assembly / "manifest.json").is_file():
        raise AssemblyError(f"{assembly}/manifest.json not found: synthesize the app first (make synth-local)")
    for stale in ("athena", "athena.duckdb", "athena.duckdb.wal", "logs", "images"):
        path = state / stale
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    _quiet_server_logs()
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


def run(assembly: Path, rows: int, seed: int, images: dict[str, Path], state: Path = STATE,
        source: Path | None = None, serve: bool = False, converse=None, enforce_iam: bool = True,
        file_rows: int | None = None) -> int:
    """Deploy, then run the state machine on `source` (a CSV) or on `rows` generated customers;
    with `serve`, keep the cloud serving afterwards (as `up` does) for `predict` and AWS clients."""
    from localcloud.progress import Progress

    if source is not None and not source.is_file():
        raise InputError(f"--input {source}: no such file")
    if file_rows is not None and file_rows < 1:
        raise InputError(f"--file-rows {file_rows}: a file holds at least one row")
    started = time.perf_counter()
    print(f"local cloud: deploying {assembly}/ …", flush=True)
    cloud = _start(assembly, state, images, converse, enforce_iam)
    try:
        print(f"local cloud: serving AWS APIs at {cloud.endpoint}; state machine {cloud.deployment.state_machine_arn}")
        source = source or _generated(state / "data", rows, seed)
        print(f"uploading {source} ({source.stat().st_size:,} bytes) as the run's input …", flush=True)
        source_key = _upload_in_parts(cloud, source, file_rows, state / "parts") if file_rows else UPLOAD_KEY
        if not file_rows:
            cloud.upload_source(source, key=UPLOAD_KEY)
        progress = Progress(describe_map_run=lambda arn: cloud.client("stepfunctions").describe_map_run(mapRunArn=arn))
        name = datetime.now().strftime("local-%Y%m%d-%H%M%S")
        print(f"\nstarting execution {name}\n", flush=True)
        result = cloud.run(name=name, source_key=source_key, on_event=progress.event, on_poll=progress.heartbeat)
        summary = progress.summary(result, wall_seconds=time.perf_counter() - started, views=_views(cloud),
                                   count_rows=lambda table: _count_rows(cloud, table))
        summary["machine"] = {"cpus": os.cpu_count()}
        summary["bucket_bytes"] = _bucket_bytes(cloud)
        if summary["status"] == "SUCCEEDED" and converse is not None:  # a model to answer with
            summary["example_answers"] = _example_answers(cloud)
        summary["iam"] = {"decisions": cloud.iam.decisions, "denials": cloud.iam.denials,
                          "seconds": round(cloud.iam.seconds, 2)}
        state.mkdir(parents=True, exist_ok=True)
        (state / "last-run.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
        Progress.print_summary(summary)
        if serve:
            _serve(cloud, _deployment_details(cloud),
                   [f"{sys.executable} -m localcloud predict CUST-00000001"], stop_when_done=False)
    finally:
        cloud.stop()
    return 0 if summary["status"] == "SUCCEEDED" else 1


UPLOAD_KEY, PARTS_PREFIX = "customers/customers.csv", "customers/parts/"


def _upload_in_parts(cloud, source: Path, file_rows: int, folder: Path) -> str:
    """The CSV as files of at most `file_rows` data rows (split at line ends, the header in each)
    under one prefix; returns the prefix, which the run's input names."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    parts: list[Path] = []
    with source.open("rb") as lines:
        header = lines.readline()
        out, written = None, file_rows
        for line in lines:
            if written == file_rows:
                if out:
                    out.close()
                parts.append(folder / f"part-{len(parts):05d}.csv")
                out, written = parts[-1].open("wb"), 0
                out.write(header)
            out.write(line)
            written += 1
        if out:
            out.close()
    for part in parts:
        cloud.upload_source(part, key=PARTS_PREFIX + part.name)
    print(f"uploaded as {len(parts):,} files of at most {file_rows:,} rows under {PARTS_PREFIX}", flush=True)
    return PARTS_PREFIX


def _generated(folder: Path, rows: int, seed: int) -> Path:
    from datagen.generator import GeneratorConfig
    from datagen.writer import write_dataset

    print(f"generating {rows:,} customers (seed {seed}) …", flush=True)
    write_dataset(GeneratorConfig(rows=rows, seed=seed), folder, progress=sys.stdout)
    return folder / "customers.csv"


def _views(cloud) -> list[str]:
    """Every view in the catalog, as `database.view`."""
    glue = cloud.client("glue")
    return [f"{database['Name']}.{table['Name']}"
            for page in glue.get_paginator("get_databases").paginate() for database in page["DatabaseList"]
            for tables in glue.get_paginator("get_tables").paginate(DatabaseName=database["Name"])
            for table in tables["TableList"] if table.get("TableType") == "VIRTUAL_VIEW"]


def _count_rows(cloud, table: str) -> int | None:
    from localcloud.athena_duckdb import AthenaSqlError

    try:
        return cloud.query(f"SELECT count(*) FROM {table}")[0][0]
    except AthenaSqlError:
        return None  # gone since it was created


def sql(query: str, state: Path = STATE) -> int:
    """Query the last run's tables and views: through the serving cloud's Athena API while one
    serves (its DuckDB file is then in use), else on the run's database file."""
    from localcloud.athena_duckdb import AthenaOnDuckDB, AthenaSqlError, FolderStore

    serving = _serving(state / SERVER.name)
    if serving is not None:
        return _sql_through_athena(query, serving)
    if not (state / "last-run.json").is_file():
        print("error: no local run yet: make run (or python -m localcloud run)", file=sys.stderr)
        return 1
    # The run's database file has every table and view the catalog had at its end.
    athena = AthenaOnDuckDB(FolderStore(state / "athena"), None, database=state / "athena.duckdb")
    try:
        described, rows = athena.result(query)
        columns = [name for name, _ in described] if rows else []
    except AthenaSqlError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        athena.close()
    _print_table(columns, rows)
    return 0


def _serving(server_file: Path) -> dict | None:
    """What server.json says of the cloud serving now (None: none, or a stale file)."""
    if not server_file.is_file():
        return None
    server = json.loads(server_file.read_text())
    return server if _process(server["pid"]) == server.get("process") else None


def _sql_through_athena(query: str, server: dict) -> int:
    """StartQueryExecution in the platform's workgroup, polled, its results paged (Athena's API)."""
    import boto3

    from localcloud.owner import Operator

    keys = Operator.from_environment(server["credentials"])
    athena = boto3.client("athena", endpoint_url=server["endpoint"], region_name="us-east-1",
                          aws_access_key_id=keys.access_key, aws_secret_access_key=keys.secret_key)
    started = athena.start_query_execution(QueryString=query, WorkGroup=server.get("workgroup", "primary"))
    query_id = started["QueryExecutionId"]
    while (status := athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"])[
            "State"] in ("QUEUED", "RUNNING"):
        time.sleep(0.2)
    if status["State"] != "SUCCEEDED":
        print(f"error: {status.get('StateChangeReason', status['State'])}", file=sys.stderr)
        return 1
    pages = athena.get_paginator("get_query_results").paginate(QueryExecutionId=query_id)
    columns, rows = [], []
    for page in pages:
        columns = [c["Name"] for c in page["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]]
        rows += [tuple(d.get("VarCharValue") for d in row["Data"]) for row in page["ResultSet"]["Rows"]]
    rows = rows[1:] if rows and columns and rows[0] == tuple(columns) else rows  # Athena's header row
    _print_table(columns if rows else [], rows)
    return 0


def _print_table(columns: list[str], rows: list[tuple]) -> None:
    shown = [[_cell(v) for v in row] for row in rows[:50]]
    widths = [max([len(c)] + [len(r[i]) for r in shown]) for i, c in enumerate(columns)]
    if columns:
        print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
        print("  ".join("-" * w for w in widths))
    for row in shown:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))
    print(f"({len(rows)} rows{', first 50 shown' if len(rows) > 50 else ''})")


def _cell(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def status(state: Path = STATE) -> int:
    from localcloud.progress import Progress

    last = state / "last-run.json"
    if not last.is_file():
        print("no local run yet: make run")
        return 1
    Progress.print_summary(json.loads(last.read_text()))
    if SERVER.is_file():
        print(f"\nlocal cloud serving: {json.loads(SERVER.read_text())['endpoint']}")
    return 0


def iam_report(as_json: bool, state: Path = STATE) -> int:
    from localcloud.iam_report import print_report, report

    logs = state / "logs"
    if not (logs / "iam.jsonl").is_file() or not (logs / "iam-policies.json").is_file():
        print("error: no IAM decisions recorded yet: make run (or python -m localcloud run)", file=sys.stderr)
        return 1
    summary = report(logs)
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        print_report(summary)
    return 0


def deploy(assembly: Path, images: dict[str, Path]) -> int:
    cloud = _start(assembly, SERVING, images)
    try:
        resources = cloud.client("cloudformation").describe_stack_resources
        counts = {name: len(resources(StackName=name)["StackResources"]) for name in cloud.deployment.stacks}
        print("deployed to a throwaway local cloud: " + ", ".join(f"{k} ({v} resources)" for k, v in counts.items())
              + f"; state machine {cloud.deployment.state_machine_arn}")
    finally:
        cloud.stop()
    return 0


def up(assembly: Path, images: dict[str, Path], converse=None) -> int:
    cloud = _start(assembly, SERVING, images, converse)
    raw = next(v for k, v in cloud.deployment.exports.items() if k.endswith("-RawBucketName"))
    endpoint = cloud.cdk_environment()["AWS_ENDPOINT_URL"]
    return _serve(cloud, {**_deployment_details(cloud), "raw_bucket": raw}, [
        f"aws --endpoint-url {endpoint} s3 cp customers.csv s3://{raw}/customers/customers.csv",
        f"aws --endpoint-url {endpoint} stepfunctions start-execution --state-machine-arn "
        f"{cloud.deployment.state_machine_arn} --input '{{\"source_key\": \"customers/customers.csv\"}}'",
        f"AWS_ENDPOINT_URL={endpoint} AWS_ENDPOINT_URL_S3={endpoint} node_modules/.bin/cdklocal deploy --all "
        f"--app {assembly} --require-approval never    # after a change: updates in place"])


def _deployment_details(cloud) -> dict:
    """What server.json tells clients of the deployed app: its state machine and Athena workgroup."""
    exports = cloud.deployment.exports
    return {"state_machine_arn": cloud.deployment.state_machine_arn,
            "workgroup": next((v for k, v in exports.items() if k.endswith("-WorkgroupName")), "primary")}


def up_empty(images: dict[str, Path]) -> int:
    """A cloud with nothing deployed: the target for `cdklocal bootstrap` and `cdklocal deploy`."""
    from localcloud.cloud import LocalCloud

    _quiet_server_logs()
    cloud = LocalCloud(SERVING, images=images)
    cloud.start()
    url = cloud.cdk_environment()["AWS_ENDPOINT_URL"]
    endpoint = f"AWS_ENDPOINT_URL={url} AWS_ENDPOINT_URL_S3={url}"
    return _serve(cloud, {}, [f"{endpoint} node_modules/.bin/cdklocal bootstrap --app cdk.out.local",
                              f"{endpoint} node_modules/.bin/cdklocal deploy --all --app cdk.out.local "
                              "--require-approval never"])


def _serve(cloud, details: dict, commands: list[str], stop_when_done: bool = True) -> int:
    """Serve until Ctrl-C or `down`, with the endpoint in .localcloud/server.json."""
    from localcloud.cloud import CDKLOCAL_KEEPS

    SERVER.parent.mkdir(parents=True, exist_ok=True)
    # "endpoint" for boto3 and the aws CLI; "endpoint_localhost" for cdklocal, whose S3 asset upload
    # addresses buckets in a way the server resolves only on a host name.
    # "credentials": this session's operator keys; the file is the owner's alone (0600, in a 0700 folder).
    SERVER.write_text(json.dumps({"pid": os.getpid(), "process": _process(os.getpid()), "endpoint": cloud.endpoint,
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


def ask(question: str, as_json: bool) -> int:
    """POST /ask to the serving cloud's API, signed as an IAM caller: the assistant's answer."""
    from localcloud.rest_apis import call

    status, answer = call(route_url(SERVER, "/ask"), "POST", {"question": question}, signed=credentials(SERVER))
    if as_json:
        print(json.dumps(answer, indent=2))
    elif status == 200:
        print(answer["answer"])
        for number, tool_call in enumerate(answer["tool_calls"], 1):
            print(f"\n[{number}] {tool_call['tool']} {json.dumps(tool_call['input'])}")
    else:
        print(f"error: POST /ask answered {status}: {answer.get('message', answer)}", file=sys.stderr)
    return 0 if status == 200 else 1


def predict(customer_id: str, as_json: bool) -> int:
    """POST /predict to the serving cloud's API, signed as an IAM caller: the published run's answer."""
    from localcloud.rest_apis import call

    url = route_url(SERVER, "/predict")
    status, answer = call(url, "POST", {"customer_id": customer_id}, signed=credentials(SERVER))
    if as_json:
        print(json.dumps(answer, indent=2))
    elif status == 200:
        _print_prediction(answer)
    else:
        print(f"error: POST /predict answered {status}: {answer.get('message', answer)}", file=sys.stderr)
    return 0 if status == 200 else 1


def env() -> int:
    """The serving cloud's endpoint and keys as shell `export` lines (for aws, boto3, cdklocal)."""
    server = _serving(SERVER)
    if server is None:
        print("error: no local cloud is serving: start one with `python -m localcloud up` (or run --serve)",
              file=sys.stderr)
        return 1
    from localcloud.cloud import CDKLOCAL_KEEPS

    variables = {"AWS_ENDPOINT_URL": server["endpoint"], "AWS_DEFAULT_REGION": "us-east-1", **server["credentials"],
                 "AWS_ENVAR_ALLOWLIST": CDKLOCAL_KEEPS}
    print("\n".join(f"export {name}={value}" for name, value in variables.items()))
    return 0


def credentials(server_file: Path):
    """The serving cloud's operator credentials (botocore Credentials), from its server.json."""
    from localcloud.owner import Operator

    return Operator.from_environment(json.loads(server_file.read_text())["credentials"]).credentials


def route_url(server_file: Path, path: str) -> str:
    """The URL of `path` on the serving cloud's REST API that declares it."""
    if not server_file.is_file():
        raise InputError("no local cloud is serving: start one with `python -m localcloud run --serve` "
                         "(a run, then serving) or `python -m localcloud up`")
    server = json.loads(server_file.read_text())
    found = _route(server["endpoint"], server["credentials"], server.get("rest_apis", {}), path)
    if found is None:
        raise InputError(f"no deployed REST API serves {path}")
    return found


def _route(endpoint: str, keys: dict[str, str], stage_urls: dict[str, str], path: str) -> str | None:
    """The stage URL + `path` of the REST API that declares `path`; `keys`: the operator's."""
    import boto3

    from localcloud.owner import Operator

    operator = Operator.from_environment(keys)
    apigateway = boto3.client("apigateway", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id=operator.access_key, aws_secret_access_key=operator.secret_key)
    for stage_url in stage_urls.values():
        api_id = stage_url.rstrip("/").split("/")[-2]
        if any(resource["path"] == path for resource in apigateway.get_resources(restApiId=api_id)["items"]):
            return stage_url + path
    return None


def _bucket_bytes(cloud) -> dict[str, int]:
    """Bytes each bucket holds (latest versions), for reckoning what a run stores."""
    s3 = cloud.client("s3")
    sizes = {}
    for bucket in s3.list_buckets()["Buckets"]:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"])
        sizes[bucket["Name"]] = sum(item["Size"] for page in pages for item in page.get("Contents", []))
    return sizes


def _example_answers(cloud) -> list[dict]:
    """The deployed /ask's answers to EXAMPLE_QUESTIONS (none where the app has no /ask)."""
    from localcloud.rest_apis import call

    url = _route(cloud.endpoint, cloud.operator.environment, cloud.apis.urls(), "/ask")
    answers = []
    for question in EXAMPLE_QUESTIONS if url else ():
        status, reply = call(url, "POST", {"question": question}, signed=cloud.operator.credentials)
        answers.append({"question": question, "answer": reply.get("answer") if status == 200 else
                        f"(POST /ask answered {status}: {reply.get('message', reply)})"})
    return answers


def _print_prediction(answer: dict) -> None:
    reasons = answer.pop("reasons")
    width = max(len(key) for key in answer)
    for key, value in answer.items():
        print(f"{key.ljust(width)}  {value}")
    for model, top in reasons.items():
        print(f"\ntop {len(top)} reasons, {model} model (feature, customer's value, contribution):")
        for reason in top:
            print(f"  {reason['feature']:<40} {reason['value']!s:>12} {reason['contribution']:+.4f}")


def down() -> int:
    if not SERVER.is_file():
        print("no local cloud is serving")
        return 0
    server = json.loads(SERVER.read_text())
    pid = server["pid"]
    if _process(pid) != server.get("process"):  # gone, or its pid now belongs to another process
        SERVER.unlink(missing_ok=True)
        print(f"no local cloud is serving (pid {pid} is not the one `up` started; removed the stale {SERVER})")
        return 0
    os.kill(pid, signal.SIGTERM)
    print(f"stopped local cloud (pid {pid})")
    return 0


def _process(pid: int) -> str | None:
    """A process's start time and command line, which a reused pid does not share."""
    result = subprocess.run(["ps", "-o", "lstart=,command=", "-p", str(pid)], capture_output=True, text=True)
    return result.stdout.strip() or None


def _converse(name: str | None):
    from localcloud import bedrock_runtime

    try:
        return bedrock_runtime.load(name) if name else None
    except ValueError as error:
        raise InputError(str(error)) from None


def image_source(value: str) -> tuple[str, Path]:
    """`URI=DOCKERFILE`, as --image takes it."""
    uri, separator, dockerfile = value.partition("=")
    if not (uri and separator and dockerfile):
        raise argparse.ArgumentTypeError(f"expected URI=DOCKERFILE, got {value!r}")
    return uri, Path(dockerfile)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcloud", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    plan_parser = commands.add_parser("plan", help="list the stacks and resources in a synthesized app")
    plan_parser.add_argument("assembly", nargs="?", default="cdk.out.local", type=Path)
    run_parser = commands.add_parser("run", help="deploy locally and run the state machine on generated data")
    run_parser.add_argument("--assembly", default="cdk.out.local", type=Path)
    source = run_parser.add_mutually_exclusive_group()
    source.add_argument("--rows", type=int, default=100_000, help="generate this many customers (default 100,000)")
    source.add_argument("--input", type=Path, metavar="FILE.csv",
                        help="run on this CSV instead of generated customers (the data contract's columns)")
    run_parser.add_argument("--seed", type=int, default=42)
    run_parser.add_argument("--file-rows", type=int, metavar="N",
                            help="upload the CSV as files of at most N rows under one prefix (many files)")
    run_parser.add_argument("--iam", choices=("enforce", "off"), default="enforce",
                            help="off: every caller acts as the operator, only to measure what enforcement costs "
                                 "(default: enforce, as AWS does)")
    run_parser.add_argument("--serve", action="store_true",
                            help="keep the cloud serving after the run (for predict, and AWS clients) until down")
    sql_parser = commands.add_parser("sql", help="query the last run's tables and views")
    sql_parser.add_argument("query")
    commands.add_parser("status", help="the last run's summary")
    report_parser = commands.add_parser("iam-report", help="per role: the grants the last run used and never used, "
                                                           "and every denial")
    report_parser.add_argument("--json", action="store_true", help="print the report as JSON")
    deploy_parser = commands.add_parser("deploy", help="deploy into a throwaway local cloud and report")
    deploy_parser.add_argument("--assembly", default="cdk.out.local", type=Path)
    up_parser = commands.add_parser("up", help="serve a local cloud until stopped")
    up_parser.add_argument("--assembly", default="cdk.out.local", type=Path)
    up_parser.add_argument("--empty", action="store_true",
                           help="deploy nothing: serve a cloud for cdklocal bootstrap / deploy")
    commands.add_parser("down", help="stop a local cloud started with up or run --serve")
    commands.add_parser("env", help="export lines for AWS clients of the serving cloud (endpoint and keys)")
    predict_parser = commands.add_parser("predict", help="POST /predict to the serving cloud (run --serve first)")
    predict_parser.add_argument("customer_id")
    predict_parser.add_argument("--json", action="store_true", help="print the response body as JSON")
    ask_parser = commands.add_parser("ask", help="POST /ask to the serving cloud: a question about the published run")
    ask_parser.add_argument("question")
    ask_parser.add_argument("--json", action="store_true", help="print the response body as JSON")
    for serving in (run_parser, up_parser):
        serving.add_argument("--converse", metavar="MODULE:FUNCTION",
                             help="the stand-in model that answers Bedrock's Converse (there is no Bedrock locally)")
    for serving in (run_parser, deploy_parser, up_parser):
        serving.add_argument("--image", action="append", default=[], type=image_source, metavar="URI=DOCKERFILE",
                             help="run task definitions naming image URI from this Dockerfile (build context: "
                                  "the repository root); repeatable")
    args = parser.parse_args(argv)
    images = dict(getattr(args, "image", []))
    try:
        converse = _converse(getattr(args, "converse", None))
        if args.command == "plan":
            plan(args.assembly)
        elif args.command == "run":
            return run(args.assembly, args.rows, args.seed, images, source=args.input, serve=args.serve,
                       file_rows=args.file_rows,
                       converse=converse, enforce_iam=args.iam == "enforce")
        elif args.command == "sql":
            return sql(args.query)
        elif args.command == "status":
            return status()
        elif args.command == "iam-report":
            return iam_report(args.json)
        elif args.command == "deploy":
            return deploy(args.assembly, images)
        elif args.command == "up":
            return up_empty(images) if args.empty else up(args.assembly, images, converse)
        elif args.command == "down":
            return down()
        elif args.command == "env":
            return env()
        elif args.command == "predict":
            return predict(args.customer_id, args.json)
        elif args.command == "ask":
            return ask(args.question, args.json)
    except (AssemblyError, ImageError, InputError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
