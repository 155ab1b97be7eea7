"""`python -m localcloud <command>`: the local cloud's command-line interface."""

import argparse
import sys
from pathlib import Path

from localcloud import pipeline_doc as doc
from localcloud.assembly import AssemblyError, read_stacks
from localcloud.definition import load_definition, state_machines


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


def pipeline_doc(assembly_dir: Path) -> str:
    machines = [machine for stack in read_stacks(assembly_dir) for machine in state_machines(stack.template).values()]
    if len(machines) != 1:
        raise AssemblyError(f"expected one state machine in {assembly_dir}, found {len(machines)}")
    return doc.render(load_definition(machines[0]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcloud", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    plan_parser = commands.add_parser("plan", help="list the stacks and resources in a synthesized app")
    plan_parser.add_argument("assembly", nargs="?", default="cdk.out", type=Path)
    doc_parser = commands.add_parser("pipeline-doc", help="write docs/pipeline.md from the synthesized state machine")
    doc_parser.add_argument("assembly", type=Path)
    doc_parser.add_argument("output", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "plan":
            plan(args.assembly)
        elif args.command == "pipeline-doc":
            args.output.write_text(pipeline_doc(args.assembly))
    except AssemblyError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
