"""Created once per Lambda container: Powertools, AWS clients, settings from the environment."""

import os
from dataclasses import fields
from functools import cache

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer

from engagement.runs import Buckets
from engagement.stages import Settings
from engagement.tokenize import Tokenizer, key_from_file, key_from_secret

logger = Logger()
tracer = Tracer()
metrics = Metrics()


def settings() -> Settings:
    env = os.environ
    return Settings(
        buckets=Buckets(**{f.name: env[f"{f.name.upper()}_BUCKET"] for f in fields(Buckets)}),
        default_source_key=env.get("DEFAULT_SOURCE_KEY", "customers/customers.csv"),
        max_quarantine_share=float(env.get("MAX_QUARANTINE_SHARE", "0.05")),
        min_rows=int(env.get("MIN_ROWS", "1000")),
        cache_ttl_attribute=env.get("CACHE_TTL_ATTRIBUTE", "expires_at"),
    )


@cache
def client(service: str):
    return boto3.client(service)


def tokenizer() -> Tokenizer:
    """Secrets Manager on AWS; a local key file in the local cloud."""
    if os.environ.get("TOKENIZATION_KEY_FILE"):
        from pathlib import Path

        return Tokenizer(key_from_file(Path(os.environ["TOKENIZATION_KEY_FILE"])))
    return Tokenizer(key_from_secret(client("secretsmanager"), os.environ["TOKENIZATION_SECRET_ARN"]))


def cache_table():
    """A fresh table resource: CacheLoad writes from several threads, one resource each."""
    return boto3.resource("dynamodb").Table(os.environ["CACHE_TABLE"])
