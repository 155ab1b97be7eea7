"""Created once per Lambda container: Powertools, AWS clients, settings from the environment."""

import os
from dataclasses import fields
from functools import cache

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from botocore.config import Config

from engagement import environment as env
from engagement.cache import CacheTable
from engagement.layout import Buckets
from engagement.stages import Settings
from engagement.tokenize import Tokenizer, key_from_secret

logger = Logger()
tracer = Tracer()
metrics = Metrics()


# Settings the environment may override (the defaults live in Settings): field -> (variable, type).
OVERRIDES = {"default_source_key": (env.DEFAULT_SOURCE_KEY, str),
             "max_quarantine_share": (env.MAX_QUARANTINE_SHARE, float), "min_rows": (env.MIN_ROWS, int), "cache_ttl_attribute": (env.CACHE_TTL_ATTRIBUTE, str),
             "run_lock_lease_seconds": (env.RUN_LOCK_LEASE_SECONDS, int), "shard_rows": (env.SHARD_ROWS, int)}


def settings() -> Settings:
    return Settings(
        buckets=Buckets(**{f.name: env.required(env.bucket_variable(f.name)) for f in fields(Buckets)}),
        **{name: kind(os.environ[variable]) for name, (variable, kind) in OVERRIDES.items()
           if os.environ.get(variable)},
    )


@cache
def client(service: str):
    return boto3.client(service)


def tokenizer() -> Tokenizer:
    """The PII key, from its Secrets Manager secret."""
    return Tokenizer(key_from_secret(client("secretsmanager"), env.required(env.TOKENIZATION_SECRET_ARN)))


def ledger():
    """The run ledger: the run lock and every run id claimed."""
    return boto3.resource("dynamodb").Table(env.required(env.RUN_LEDGER_TABLE))


def model_client(seconds_left: float):
    """A bedrock-runtime client whose one call (one attempt: a retry would outlive the budget) ends
    within `seconds_left`."""
    return boto3.client("bedrock-runtime", config=Config(
        connect_timeout=min(2.0, seconds_left), read_timeout=seconds_left, retries={"total_max_attempts": 1}))


@cache
def cache_table() -> CacheTable:
    """CacheLoad's writes: one low-level client for its threads. botocore's parameter validation
    is off: cache_items builds every item in one fixed shape, and DynamoDB validates each request."""
    writes = Config(parameter_validation=False, max_pool_connections=16)
    return CacheTable(boto3.client("dynamodb", config=writes), env.required(env.CACHE_TABLE))


@cache
def answer_table():
    """The answer cache: /ask's replies per question and run."""
    return boto3.resource("dynamodb").Table(env.required(env.ANSWER_CACHE_TABLE))


def knowledge_base_index():
    from engagement.knowledge_base import Index

    return Index(env.required(env.KNOWLEDGE_BASE_ID), env.required(env.KNOWLEDGE_BASE_DATA_SOURCE_ID))


@cache
def prediction_table():
    """The prediction cache, read one item at a time by /predict."""
    return boto3.resource("dynamodb").Table(env.required(env.CACHE_TABLE))


@cache
def assistant_tools() -> list:
    """The assistant's tools, over this container's clients (imported here: only /ask loads sqlglot)."""
    from engagement import assistant_tools as tools

    athena = tools.AthenaRunner(client("athena"), env.required(env.ATHENA_WORKGROUP))
    return [tools.query_athena_tool(athena), tools.feature_stats_tool(athena),
            tools.explain_prediction_tool(client("s3"), prediction_table(), settings().buckets),
            tools.what_if_tool(client("s3"), settings().buckets),
            tools.search_knowledge_base_tool(client("bedrock-agent-runtime"), client("s3"), settings().buckets,
                                             env.required(env.KNOWLEDGE_BASE_ID))]
