#!/usr/bin/env python3
"""CDK entry point. The only module that reads the environment and CDK context."""

import os
import sys
from pathlib import Path

import aws_cdk as cdk
from stacks.platform import PROFILES, PlatformSettings, build_platform

LAMBDA_LAYER = Path(__file__).resolve().parent / "build" / "lambda-layer"
if not (LAMBDA_LAYER / "python").is_dir():
    sys.exit(f"{LAMBDA_LAYER} is missing: build the Lambda layer first (make lambda-layer; make synth does it)")



def flag(value) -> bool:
    text = str(value).strip().lower()
    if text not in ("true", "false"):
        raise ValueError(f"expected true or false, got {value!r}")
    return text == "true"


def profile(value) -> str:
    if value not in PROFILES:
        raise ValueError(f"expected one of {', '.join(PROFILES)}, got {value!r}")
    return value


# CDK context key -> (PlatformSettings field, parser); `npx cdk deploy -c key=value`.
CONTEXT = {"athenaBytesScannedCutoff": ("athena_bytes_scanned_cutoff", int),
           "assistantBytesScannedCutoff": ("assistant_bytes_scanned_cutoff", int),
           "encryptGlueCatalog": ("encrypt_glue_catalog", flag),
           "uploadRetentionDays": ("upload_retention_days", int),
           "quarantineRetentionDays": ("quarantine_retention_days", int),
           "terminationProtection": ("termination_protection", flag),
           "mlImageUri": ("ml_image_uri", str),
           "assistantModelId": ("assistant_model_id", str),
           "reserveConcurrency": ("reserve_concurrency", flag),
           "shardRows": ("shard_rows", int),
           "ingestConcurrency": ("ingest_concurrency", int),
           "inferenceConcurrency": ("inference_concurrency", int),
           "cacheLoadConcurrency": ("cache_load_concurrency", int),
           "stageMemoryMb": ("stage_memory_mb", int),
           "taskMemoryMib": ("task_memory_mib", int),
           "maxTrainingRows": ("max_training_rows", int),
           "maxTestRows": ("max_test_rows", int),
           "cacheWarmWritesPerSecond": ("cache_warm_writes_per_second", int),
           "profile": ("profile", profile)}

app = cdk.App()
overrides = {}
for key, (field, parse) in CONTEXT.items():
    value = app.node.try_get_context(key)
    if value is not None:
        try:
            overrides[field] = parse(value)
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
