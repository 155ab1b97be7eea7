"""The state machine definition as synthesized: Fn::Join parts joined, references kept readable.

`DefinitionString` in the template is an Fn::Join of JSON text and references (bucket names,
function ARNs). `load_definition` joins them with a resolver; without one, references become
`${Ref}` / `${LogicalId.Attr}` placeholders, which is enough to read the states and transitions.
"""

import json
from collections.abc import Callable

Resolver = Callable[[dict], str]


def placeholder(reference: dict) -> str:
    """Readable stand-in for a reference; safe inside the JSON string it is spliced into."""
    return json.dumps(_readable(reference))[1:-1]


def _readable(reference: dict) -> str:
    if "Ref" in reference:
        return f"${{{reference['Ref']}}}"
    if "Fn::GetAtt" in reference:
        logical_id, attribute = reference["Fn::GetAtt"]
        return f"${{{logical_id}.{attribute}}}"
    if "Fn::ImportValue" in reference:
        return f"${{Import:{reference['Fn::ImportValue']}}}"
    return "${" + json.dumps(reference, sort_keys=True) + "}"


def join(value, resolve: Resolver = placeholder) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(join(part, resolve) for part in parts)
    return resolve(value)


def state_machines(template: dict) -> dict[str, dict]:
    return {logical_id: resource for logical_id, resource in template.get("Resources", {}).items()
            if resource["Type"] == "AWS::StepFunctions::StateMachine"}


def load_definition(state_machine: dict, resolve: Resolver = placeholder) -> dict:
    return json.loads(join(state_machine["Properties"]["DefinitionString"], resolve))


# What the local cloud can run: these state types, and Task states with these integrations.


def walk(definition: dict, path: tuple[str, ...] = ()):
    """Every state, Parallel branches and Map processors included: (path of enclosing states, name,
    state)."""
    for name, state in definition["States"].items():
        yield path, name, state
        for branch in [*state.get("Branches", []), *[state[k] for k in ("ItemProcessor", "Iterator") if k in state]]:
            yield from walk(branch, (*path, name))
