"""Shared fixtures. The CDK app is synthesized once per test session, with asset bundling skipped."""

import json
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from stacks.platform import Platform, PlatformSettings, build_platform

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class SynthesizedApp:
    platform: Platform
    outdir: Path
    templates: dict[str, Template]
    raw_templates: dict[str, dict]


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    """The whole app as `cdk synth` builds it: cdk.json feature flags, cdk-nag packs included."""
    return synthesize(tmp_path_factory, "standard")


@pytest.fixture(scope="session")
def synthesized_lean(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    """The app as `cdk synth -c profile=lean` builds it."""
    return synthesize(tmp_path_factory, "lean")


def synthesize(tmp_path_factory: pytest.TempPathFactory, profile: str, **settings) -> SynthesizedApp:
    """The app with this profile and these PlatformSettings fields (the defaults for the rest)."""
    outdir = tmp_path_factory.mktemp("cdk.out")
    context = json.loads((REPO / "cdk.json").read_text())["context"]
    app = cdk.App(outdir=str(outdir), context={**context, "aws:cdk:bundling-stacks": [], "aws:cdk:enable-path-metadata": True,
                                             "aws:cdk:enable-asset-metadata": True})
    layer = tmp_path_factory.mktemp("lambda-layer")  # bundling is skipped: an empty folder stands in
    (layer / "python").mkdir()
    platform = build_platform(app, PlatformSettings(lambda_layer_dir=layer, profile=profile, **settings))
    assembly = app.synth()  # raises if any cdk-nag finding is unacknowledged
    raw = {stack.stack_name: stack.template for stack in assembly.stacks}
    return SynthesizedApp(
        platform=platform,
        outdir=outdir,
        templates={name: Template.from_json(template) for name, template in raw.items()},
        raw_templates=raw,
    )


@pytest.fixture(scope="session")
def data_template(synthesized: SynthesizedApp) -> Template:
    return synthesized.templates[synthesized.platform.data.stack_name]


@pytest.fixture(scope="session")
def network_template(synthesized: SynthesizedApp) -> Template:
    return synthesized.templates[synthesized.platform.network.stack_name]
