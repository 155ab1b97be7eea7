"""`python -m engagement_cli <command>`: the platform end to end on the embedded local cloud.

    run [--rows N] [--seed S]    start the local cloud, deploy cdk.out.local to it with cdklocal,
                                 generate N customers, run the state machine with live progress,
                                 print a summary and the assistant's answers to two questions
    run --input FILE.csv         the same on your own CSV: the pipeline's Ingest validates it against
                                 the data contract (bad rows quarantined with a reason; a file it
                                 cannot read fails the run, and nothing is published)
    run --file-rows N            upload the CSV as files of at most N rows each (at line ends,
                                 the header in each) under one prefix: an upload of many files
    run --serve                  a run, then serving (as `python -m localcloud up` does) until
                                 `python -m localcloud down`, with the run published
    predict CUSTOMER_ID [--json] POST /predict (SigV4-signed) to the serving cloud: the published
                                 run's outputs and top-5 reasons for one customer
    ask "QUESTION" [--json]      POST /ask: the assistant's answer and its tool calls

The cloud itself (plan, sql, status, iam-report, up, down, env) is `python -m localcloud`'s.
"""

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from engagement.layout import DEFAULT_UPLOAD_KEY, PLACES, bucket_export
from localcloud import session
from localcloud.progress import Progress

# Asked through the deployed /ask after a successful run, for the summary.
EXAMPLE_QUESTIONS = ("Do mobile users engage more than desktop users?",
                     "What's the predicted engagement uplift if we convert 10% of free users to premium?")
PARTS_PREFIX = f"{PLACES['source'].key}parts/"


def run(assembly: Path, rows: int, seed: int, images: dict[str, Path], state: Path = session.STATE,
        source: Path | None = None, serve: bool = False, converse=None, enforce_iam: bool = True,
        file_rows: int | None = None) -> int:
    """Deploy, then run the pipeline on `source` (a CSV) or on `rows` generated customers; with
    `serve`, keep the cloud serving afterwards for `predict`, `ask` and AWS clients."""
    if source is not None and not source.is_file():
        raise session.InputError(f"--input {source}: no such file")
    if file_rows is not None and file_rows < 1:
        raise session.InputError(f"--file-rows {file_rows}: a file holds at least one row")
    started = time.perf_counter()
    print(f"local cloud: deploying {assembly}/ …", flush=True)
    cloud = session.start(assembly, state, images, converse, enforce_iam)
    try:
        print(f"local cloud: serving AWS APIs at {cloud.endpoint}; state machine {cloud.deployment.state_machine_arn}")
        source = source or generated(state / "data", rows, seed)
        print(f"uploading {source} ({source.stat().st_size:,} bytes) as the run's input …", flush=True)
        source_key = (upload_in_parts(cloud, source, file_rows, state / "parts") if file_rows
                      else upload(cloud, source, DEFAULT_UPLOAD_KEY))
        summary = session.execute(cloud, {"source_key": source_key}, started=started)
        if summary["status"] == "SUCCEEDED" and converse is not None:  # a model to answer with
            summary["example_answers"] = example_answers(cloud)
        session.record(summary, state)
        Progress.print_summary(summary)
        print_example_answers(summary.get("example_answers", []))
        if serve:
            session.serve(cloud, session.deployment_details(cloud),
                          [f"{sys.executable} -m engagement_cli predict CUST-00000001"], stop_when_done=False)
    finally:
        cloud.stop()
    return 0 if summary["status"] == "SUCCEEDED" else 1


def upload(cloud, path: Path, key: str) -> str:
    """A file into the deployed raw bucket (the data stack exports its name); returns the key."""
    export = bucket_export("raw", "Name")
    buckets = [value for name, value in cloud.deployment.exports.items() if name.endswith("-" + export)]
    if not buckets:
        raise session.InputError(f"the deployed app exports no *-{export}: is this the platform's cloud assembly?")
    cloud.client("s3").upload_file(str(path), buckets[0], key)
    return key


def upload_in_parts(cloud, source: Path, file_rows: int, folder: Path) -> str:
    """The CSV as files of at most `file_rows` data rows (split at line ends, the header in each)
    under one prefix; returns the prefix, which the run's input names."""
    parts = split_csv(source, file_rows, folder)
    for part in parts:
        upload(cloud, part, PARTS_PREFIX + part.name)
    print(f"uploaded as {len(parts):,} files of at most {file_rows:,} rows under {PARTS_PREFIX}", flush=True)
    return PARTS_PREFIX


def split_csv(source: Path, file_rows: int, folder: Path) -> list[Path]:
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
    return parts


def generated(folder: Path, rows: int, seed: int) -> Path:
    from datagen.generator import GeneratorConfig
    from datagen.writer import write_dataset

    print(f"generating {rows:,} customers (seed {seed}) …", flush=True)
    write_dataset(GeneratorConfig(rows=rows, seed=seed), folder, progress=sys.stdout)
    return folder / "customers.csv"


def example_answers(cloud) -> list[dict]:
    """The deployed /ask's answers to EXAMPLE_QUESTIONS (none where the app has no /ask)."""
    from localcloud.rest_apis import call

    url = session.route(cloud.endpoint, cloud.operator.environment, cloud.apis.urls(), "/ask")
    answers = []
    for question in EXAMPLE_QUESTIONS if url else ():
        status, reply = call(url, "POST", {"question": question}, signed=cloud.operator.credentials)
        answers.append({"question": question, "answer": reply.get("answer") if status == 200 else
                        f"(POST /ask answered {status}: {reply.get('message', reply)})"})
    return answers


def print_example_answers(answers: list[dict]) -> None:
    for example in answers:
        answer = example["answer"].split("\n\nComputed by:")[0].split("\n\nSource:")[0]
        print(f"\n  ask: {example['question']}\n    " + answer.replace("\n", "\n    "))
    if answers:
        print('\n  ask your own (with --serve):  .venv/bin/python -m engagement_cli ask "QUESTION"')


def ask(question: str, as_json: bool) -> int:
    """POST /ask to the serving cloud's API, signed as an IAM caller: the assistant's answer."""
    return _post("/ask", {"question": question}, print_answer if not as_json else None)


def predict(customer_id: str, as_json: bool) -> int:
    """POST /predict to the serving cloud's API, signed as an IAM caller: the published run's answer."""
    return _post("/predict", {"customer_id": customer_id}, print_prediction if not as_json else None)


def _post(path: str, body: dict, shown) -> int:
    """The answer printed by `shown` (None: the body as JSON), or the error the API answered."""
    from localcloud.rest_apis import call

    status, answer = call(session.route_url(session.SERVER, path), "POST", body,
                          signed=session.credentials(session.SERVER))
    if shown is None:
        print(json.dumps(answer, indent=2))
    elif status == 200:
        shown(answer)
    else:
        print(f"error: POST {path} answered {status}: {answer.get('message', answer)}", file=sys.stderr)
    return 0 if status == 200 else 1


def print_answer(answer: dict) -> None:
    print(answer["answer"])
    for number, tool_call in enumerate(answer["tool_calls"], 1):
        print(f"\n[{number}] {tool_call['tool']} {json.dumps(tool_call['input'])}")


def print_prediction(answer: dict) -> None:
    reasons = answer.pop("reasons")
    width = max(len(key) for key in answer)
    for key, value in answer.items():
        print(f"{key.ljust(width)}  {value}")
    for model, top in reasons.items():
        print(f"\ntop {len(top)} reasons, {model} model (feature, customer's value, contribution):")
        for reason in top:
            print(f"  {reason['feature']:<40} {reason['value']!s:>12} {reason['contribution']:+.4f}")


def parser() -> argparse.ArgumentParser:
    parsing = argparse.ArgumentParser(prog="python -m engagement_cli", description=__doc__,
                                      formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parsing.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="deploy locally and run the pipeline on generated data or a CSV")
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
                            help="keep the cloud serving after the run (for predict, ask and AWS clients) until down")
    session.add_cloud_options(run_parser)
    for name, field, what in (("predict", "customer_id", "POST /predict: one customer's published prediction"),
                              ("ask", "question", "POST /ask: a question about the published run")):
        command = commands.add_parser(name, help=f"{what} (run --serve first)")
        command.add_argument(field)
        command.add_argument("--json", action="store_true", help="print the response body as JSON")
    return parsing


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "run":
            return run(args.assembly, args.rows, args.seed, dict(args.image), source=args.input, serve=args.serve,
                       file_rows=args.file_rows, converse=session.converse(args.converse),
                       enforce_iam=args.iam == "enforce")
        if args.command == "predict":
            return predict(args.customer_id, args.json)
        return ask(args.question, args.json)
    except session.USAGE_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

