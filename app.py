#!/usr/bin/env python3
"""CDK entry point. The only module that reads the environment and CDK context."""

import os

import aws_cdk as cdk
from stacks.platform import PlatformSettings, build_platform

app = cdk.App()

account = os.environ.get("CDK_DEFAULT_ACCOUNT")
region = os.environ.get("CDK_DEFAULT_REGION")
settings = PlatformSettings(
    env=cdk.Environment(account=account, region=region) if account and region else None,
    athena_bytes_scanned_cutoff=int(
        app.node.try_get_context("athenaBytesScannedCutoff") or PlatformSettings.athena_bytes_scanned_cutoff
    ),
)
build_platform(app, settings)
app.synth()
