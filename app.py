#!/usr/bin/env python3
"""CDK entry point. The only module that reads the environment and CDK context."""

import os
import sys
from pathlib import Path

import aws_cdk as cdk
from stacks.context import CONTEXT
from stacks.platform import PlatformSettings, build_platform

LAMBDA_LAYER = Path(__file__).resolve().parent / "build" / "lambda-layer"
if not (LAMBDA_LAYER / "python").is_dir():
    sys.exit(f"{LAMBDA_LAYER} is missing: build the Lambda layer first (make lambda-layer; make synth does it)")



app = cdk.App()
overrides = {}
for key, setting in CONTEXT.items():
    value = app.node.try_get_context(key)
    if value is not None:
        try:
            overrides[setting.field] = setting.parse(value)
        except ValueError as error:
            sys.exit(f"context {key}: {error}")
account = os.environ.get("CDK_DEFAULT_ACCOUNT")
region = os.environ.get("CDK_DEFAULT_REGION")
settings = PlatformSettings(
    lambda_layer_dir=LAMBDA_LAYER,
    env=cdk.Environment(account=account, region=region) if account and region else None,
    **overrides,
)
build_platform(app, settings)
app.synth()
