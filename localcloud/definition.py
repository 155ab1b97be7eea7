"""What of a state machine definition the local cloud can run (`unsupported`): the states, Map
item readers and service integrations it implements."""

from deployment.definition import walk

STATE_TYPES = ("Task", "Pass", "Choice", "Parallel", "Map", "Succeed", "Fail", "Wait")
# A Map's item sources the local cloud reads: inline arrays, and these ItemReader resources.
ITEM_READERS = {"s3:getObject": "moto's interpreter (JSON, CSV and manifests)"}
LOCAL_INTEGRATIONS = {
    "lambda:invoke": "the handler from its asset folder, in a subprocess",
    "ecs:runTask.sync": "the container command, in a subprocess",
    "athena:startQueryExecution.sync": "DuckDB, following the Glue catalog",
    "sns:publish": "moto",
    "dynamodb:deleteItem": "moto",
    "aws-sdk:s3:getObject": "moto (the body read as text)",
}


def unsupported(definition: dict) -> list[str]:
    """One line per state the local cloud cannot run, naming the state."""
    problems = []
    for path, name, state in walk(definition):
        where = " / ".join((*path, name))
        if state["Type"] not in STATE_TYPES:
            problems.append(f"state {where}: {state['Type']} states are not supported locally "
                            f"(supported: {', '.join(STATE_TYPES)})")
        elif state["Type"] == "Map" and "ItemReader" in state:
            reader = str(state["ItemReader"].get("Resource", "")).partition(":states:::")[2]
            if reader not in ITEM_READERS:
                problems.append(f"state {where}: ItemReader {reader or '?'} is not supported locally "
                                f"(supported: {', '.join(ITEM_READERS)})")
        elif state["Type"] == "Task":
            resource = str(state.get("Resource", ""))
            if resource.partition(":states:::")[2] not in LOCAL_INTEGRATIONS:
                problems.append(f"state {where}: {resource} is not supported locally "
                                f"(supported: {', '.join(LOCAL_INTEGRATIONS)})")
    return problems
