"""docs/pipeline.md from the synthesized state machine: a Mermaid diagram and a table of stages.

    python -m tools.pipeline_doc cdk.out docs/pipeline.md   (make docs)

Nothing here is drawn by hand: states, transitions, integrations, inputs and outputs are read
from the definition CDK synthesized. A test fails when the committed page is stale.
"""

import re
import sys
from pathlib import Path

import sql
from deployment.assembly import AssemblyError, read_stacks
from deployment.definition import load_definition, state_machines, walk

KINDS = {
    "lambda:invoke": "Lambda", "athena:startQueryExecution.sync": "Athena (wait)", "ecs:runTask.sync": "ECS Fargate (wait)",
    "sns:publish": "SNS", "aws-sdk:s3:getObject": "S3 GetObject", "dynamodb:deleteItem": "DynamoDB DeleteItem",
}


def render(definition: dict) -> str:
    lines = [
        "# The pipeline: `engagement-ml-pipeline`",
        "",
        "Generated from the synthesized state machine (`make docs`); do not edit by hand.",
        "Solid arrows are the happy path; dotted arrows are error routes (every stage outside a",
        "Parallel, and each Parallel as a whole, is caught and routed to `ReleaseRunLockOnFailure`).",
        "Readers see a run only once `PublishLatest` replaces the published pointer; every path to",
        "an end releases the run lock.",
        "",
        "```mermaid",
        "flowchart TD",
    ]
    lines += _mermaid(definition, indent="    ")
    lines += ["```", "", "## Stages", "", "| state | type | integration | input | output |", "|---|---|---|---|---|"]
    for path, name, state in walk(definition):
        where = f"{' / '.join(path)} / " if path else ""
        lines.append(f"| {where}{name} | {state['Type']} | {_integration(state)} | {_input(state)} | "
                     f"{_output(state)} |")
    return "\n".join(lines) + "\n"


def _mermaid(definition: dict, indent: str) -> list[str]:
    lines = []
    for name, state in definition["States"].items():
        shape = {"Choice": "{%s}", "Parallel": "[[%s]]", "Fail": "([%s])", "Succeed": "([%s])"}.get(state["Type"], "[%s]")
        label = f"{name}<br/><small>{(_integration(state) or state['Type']).replace('`', '')}</small>"
        lines.append(f"{indent}{name}" + shape % f'"{label}"')
        if state["Type"] == "Parallel":
            for index, branch in enumerate(state["Branches"]):
                lines.append(f"{indent}subgraph {name}_branch{index} [\" \"]")
                lines += _mermaid(branch, indent + "    ")
                lines.append(f"{indent}end")
                lines.append(f"{indent}{name} -.-> {branch['StartAt']}")
        if "Next" in state:
            lines.append(f"{indent}{name} --> {state['Next']}")
        for choice in state.get("Choices", []):
            condition = next(f"{k} {v}" for k, v in choice.items() if k not in ("Variable", "Next"))
            lines.append(f'{indent}{name} -->|"{choice["Variable"]} {condition}"| {choice["Next"]}')
        if "Default" in state:
            lines.append(f'{indent}{name} -->|otherwise| {state["Default"]}')
        for catch in state.get("Catch", []):
            lines.append(f"{indent}{name} -.->|error| {catch['Next']}")
    return lines


def _integration(state: dict) -> str:
    resource = state.get("Resource", "")
    for key, kind in KINDS.items():
        if resource.endswith(f":states:::{key}"):
            if key.startswith("athena"):
                return f"{kind}: `sql/{_statement(state)}.sql`"
            return kind
    return ""


def _statement(state: dict) -> str:
    """Which sql/ file the query came from: its text, with each placeholder matching anything."""
    query = state["Parameters"].get("QueryString.$") or state["Parameters"].get("QueryString", "")
    query = re.sub(r"^States\.Format\('", "", query).replace("\\'", "'")
    for name in sql.names():
        pattern = ".*?".join(re.escape(part) for part in sql.PLACEHOLDER.split(" ".join(sql.load(name).sql.split()))[::2])
        if re.fullmatch(pattern + r"(', .*\))?", query, flags=re.DOTALL):
            return name
    return "?"


def _input(state: dict) -> str:
    parameters = state.get("Parameters", {})
    if "Payload" in parameters:
        return ", ".join(f"`{k.removesuffix('.$')}`" for k in parameters["Payload"])
    if "Overrides" in parameters:
        env = parameters["Overrides"]["ContainerOverrides"][0]["Environment"]
        return ", ".join(f"`{e['Name']}`" for e in env)
    if "QueryExecutionContext" in parameters:
        run = ", run id" if "QueryString.$" in parameters else ""
        return f"database `{parameters['QueryExecutionContext']['Database']}`{run}"
    if state["Type"] == "Choice":
        return ", ".join(f"`{c['Variable']}`" for c in state["Choices"])
    return ""


def _output(state: dict) -> str:
    selected = state.get("ResultSelector")
    path = state.get("ResultPath", "$" if state["Type"] not in ("Fail", "Succeed", "Choice") else None)
    if path is None and "ResultPath" in state:
        return "(discarded)"
    if selected:
        return f"`{path}`: " + ", ".join(f"`{k.removesuffix('.$')}`" for k in selected)
    return f"`{path}`" if path else ""


def from_assembly(assembly_dir: Path) -> str:
    machines = [machine for stack in read_stacks(assembly_dir) for machine in state_machines(stack.template).values()]
    if len(machines) != 1:
        raise AssemblyError(f"expected one state machine in {assembly_dir}, found {len(machines)}")
    return render(load_definition(machines[0]))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m tools.pipeline_doc ASSEMBLY_DIR OUTPUT.md")
    Path(sys.argv[2]).write_text(from_assembly(Path(sys.argv[1])))
