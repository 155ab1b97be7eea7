"""`python -m localcloud <command>`: the embedded local cloud's command line. It knows clouds, not
the app: the app's own command line (what `make run` calls) uploads its data, runs it and asks its
API, through localcloud.session.

    plan [cdk.out.local]         stacks and resources a deployment would create
    deploy                       deploy into a throwaway local cloud with cdklocal and report
    up [--empty] / down          keep a local cloud serving on a port, deployed (or empty, for your
                                 own `cdklocal deploy`), for `aws --endpoint-url` and awslocal
    --image URI=DOCKERFILE       (deploy, up) the image task definitions name, from its
                                 Dockerfile: no Docker needed (see localcloud/images.py)
    --converse MODULE:FUNCTION   (up) the stand-in model that answers Bedrock's Converse
    sql "<query>"                query the last run's tables and views (Athena SQL, on DuckDB)
    status                       the last run's summary
    iam-report [--json]          per role: the grants the last run used and never used, every denial
    env                          `export` lines for AWS clients of the serving cloud: its endpoint
                                 and this session's keys (eval "$(python -m localcloud env)")
"""

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

from deployment.assembly import read_stacks
from localcloud import session
from localcloud.session import SERVER, SERVING, STATE

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


def sql(query: str, state: Path = STATE) -> int:
    """Query the last run's tables and views: through the serving cloud's Athena API while one
    serves (its DuckDB file is then in use), else on the run's database file."""
    from localcloud.athena_duckdb import AthenaOnDuckDB, AthenaSqlError, FolderStore

    serving = session.serving(state / SERVER.name)
    if serving is not None:
        return _sql_through_athena(query, serving)
    if not (state / session.LAST_RUN.name).is_file():
        print("error: no local run yet: make run", file=sys.stderr)
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


def _sql_through_athena(query: str, server: dict) -> int:
    """StartQueryExecution in the platform's workgroup, polled, its results paged (Athena's API)."""
    athena = session.operator_client("athena", server["endpoint"], server["credentials"])
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

    last = state / session.LAST_RUN.name
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
        print("error: no IAM decisions recorded yet: make run", file=sys.stderr)
        return 1
    summary = report(logs)
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        print_report(summary)
    return 0


def deploy(assembly: Path, images: dict[str, Path]) -> int:
    cloud = session.start(assembly, SERVING, images)
    try:
        resources = cloud.client("cloudformation").describe_stack_resources
        counts = {name: len(resources(StackName=name)["StackResources"]) for name in cloud.deployment.stacks}
        print("deployed to a throwaway local cloud: " + ", ".join(f"{k} ({v} resources)" for k, v in counts.items())
              + f"; state machine {cloud.deployment.state_machine_arn}")
    finally:
        cloud.stop()
    return 0


def up(assembly: Path, images: dict[str, Path], converse=None) -> int:
    cloud = session.start(assembly, SERVING, images, converse)
    endpoint = cloud.cdk_environment()["AWS_ENDPOINT_URL"]
    return session.serve(cloud, session.deployment_details(cloud), [
        f"aws --endpoint-url {endpoint} stepfunctions start-execution --state-machine-arn "
        f"{cloud.deployment.state_machine_arn} --input '{{}}'    # the app's input, after uploading its data",
        f"AWS_ENDPOINT_URL={endpoint} AWS_ENDPOINT_URL_S3={endpoint} node_modules/.bin/cdklocal deploy --all "
        f"--app {assembly} --require-approval never    # after a change: updates in place"])


def up_empty(images: dict[str, Path]) -> int:
    """A cloud with nothing deployed: the target for `cdklocal bootstrap` and `cdklocal deploy`."""
    from localcloud.cloud import LocalCloud

    session.quiet_server_logs()
    cloud = LocalCloud(SERVING, images=images)
    cloud.start()
    url = cloud.cdk_environment()["AWS_ENDPOINT_URL"]
    endpoint = f"AWS_ENDPOINT_URL={url} AWS_ENDPOINT_URL_S3={url}"
    return session.serve(cloud, {}, [f"{endpoint} node_modules/.bin/cdklocal bootstrap --app cdk.out.local",
                              f"{endpoint} node_modules/.bin/cdklocal deploy --all --app cdk.out.local "
                              "--require-approval never"])


def env() -> int:
    """The serving cloud's endpoint and keys as shell `export` lines (for aws, boto3, cdklocal)."""
    server = session.serving(SERVER)
    if server is None:
        print("error: no local cloud is serving: start one with `python -m localcloud up` (or run --serve)",
              file=sys.stderr)
        return 1
    from localcloud.cloud import CDKLOCAL_KEEPS

    variables = {"AWS_ENDPOINT_URL": server["endpoint"], "AWS_DEFAULT_REGION": "us-east-1", **server["credentials"],
                 "AWS_ENVAR_ALLOWLIST": CDKLOCAL_KEEPS}
    print("\n".join(f"export {name}={value}" for name, value in variables.items()))
    return 0


def down() -> int:
    if not SERVER.is_file():
        print("no local cloud is serving")
        return 0
    server = json.loads(SERVER.read_text())
    pid = server["pid"]
    if session.process(pid) != server.get("process"):  # gone, or its pid now belongs to another process
        SERVER.unlink(missing_ok=True)
        print(f"no local cloud is serving (pid {pid} is not the one `up` started; removed the stale {SERVER})")
        return 0
    os.kill(pid, signal.SIGTERM)
    print(f"stopped local cloud (pid {pid})")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    images = dict(getattr(args, "image", []))
    try:
        converse = session.converse(getattr(args, "converse", None))
        commands = {
            "plan": lambda: plan(args.assembly), "sql": lambda: sql(args.query), "status": status,
            "iam-report": lambda: iam_report(args.json), "deploy": lambda: deploy(args.assembly, images),
            "up": lambda: up_empty(images) if args.empty else up(args.assembly, images, converse),
            "down": down, "env": env}
        return commands[args.command]() or 0
    except session.USAGE_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m localcloud", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    plan_parser = commands.add_parser("plan", help="list the stacks and resources in a synthesized app")
    plan_parser.add_argument("assembly", nargs="?", default="cdk.out.local", type=Path)
    sql_parser = commands.add_parser("sql", help="query the last run's tables and views")
    sql_parser.add_argument("query")
    commands.add_parser("status", help="the last run's summary")
    report_parser = commands.add_parser("iam-report", help="per role: the grants the last run used and never used, "
                                                           "and every denial")
    report_parser.add_argument("--json", action="store_true", help="print the report as JSON")
    deploy_parser = commands.add_parser("deploy", help="deploy into a throwaway local cloud and report")
    deploy_parser.add_argument("--assembly", default="cdk.out.local", type=Path)
    session.add_cloud_options(deploy_parser, model=False)
    up_parser = commands.add_parser("up", help="serve a local cloud until stopped")
    up_parser.add_argument("--assembly", default="cdk.out.local", type=Path)
    up_parser.add_argument("--empty", action="store_true",
                           help="deploy nothing: serve a cloud for cdklocal bootstrap / deploy")
    session.add_cloud_options(up_parser)
    commands.add_parser("down", help="stop a local cloud started with up or a run's --serve")
    commands.add_parser("env", help="export lines for AWS clients of the serving cloud (endpoint and keys)")
    return parser


if __name__ == "__main__":
    sys.exit(main())
