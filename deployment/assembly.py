"""Reading a synthesized CDK cloud assembly (`cdk.out`): its stacks, templates and resources."""

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

STACK_ARTIFACT = "aws:cloudformation:stack"


class AssemblyError(Exception):
    """The cloud assembly is missing or not what `cdk synth` writes."""


@dataclass(frozen=True)
class StackArtifact:
    name: str
    template: dict
    termination_protection: bool
    depends_on: tuple[str, ...]

    @property
    def resources(self) -> dict[str, dict]:
        return self.template.get("Resources", {})

    def resource_counts(self) -> Counter:
        return Counter(resource["Type"] for resource in self.resources.values())


def read_stacks(assembly_dir: Path) -> list[StackArtifact]:
    """The assembly's stacks in deployment order (a stack after the stacks it depends on)."""
    manifest_path = assembly_dir / "manifest.json"
    if not manifest_path.is_file():
        raise AssemblyError(f"{manifest_path} not found: synthesize the app first (make synth)")
    artifacts = json.loads(manifest_path.read_text())["artifacts"]
    stacks = {}
    for name, artifact in artifacts.items():
        if artifact["type"] != STACK_ARTIFACT:
            continue
        properties = artifact["properties"]
        template_path = assembly_dir / properties["templateFile"]
        if not template_path.is_file():
            raise AssemblyError(f"stack {name}: template {template_path} not found")
        stacks[name] = StackArtifact(
            name=name,
            template=json.loads(template_path.read_text()),
            termination_protection=properties.get("terminationProtection", False),
            depends_on=tuple(dep for dep in artifact.get("dependencies", ()) if dep in artifacts
                             and artifacts[dep]["type"] == STACK_ARTIFACT),
        )
    return _deployment_order(stacks)


def _deployment_order(stacks: dict[str, StackArtifact]) -> list[StackArtifact]:
    ordered: list[StackArtifact] = []
    placed: set[str] = set()

    def place(name: str, path: tuple[str, ...]) -> None:
        if name in placed:
            return
        if name in path:
            raise AssemblyError(f"stack dependency cycle: {' -> '.join((*path, name))}")
        for dependency in stacks[name].depends_on:
            place(dependency, (*path, name))
        placed.add(name)
        ordered.append(stacks[name])

    for name in sorted(stacks):
        place(name, ())
    return ordered
