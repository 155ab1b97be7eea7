"""Created once per Lambda container: Powertools, AWS clients, and each function's settings,
parsed from its environment at cold start (a missing or malformed variable fails the init, named)."""

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
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


def buckets(environ: Mapping[str, str] = os.environ) -> Buckets:
    return Buckets(**{f.name: env.required(env.bucket_variable(f.name), environ) for f in fields(Buckets)})


@dataclass(frozen=True)
class StageEnvironment:
    """What every stage function is given (stacks.pipeline_stack sets the same variables on each)."""

    settings: Settings
    cache_table: str
    ledger_table: str
    tokenization_secret_arn: str


def stage_environment(environ: Mapping[str, str] = os.environ) -> StageEnvironment:
    whole = env.positive_whole_number
    return StageEnvironment(
        settings=Settings(buckets=buckets(environ), min_rows=whole(env.MIN_ROWS, environ),
                          shard_rows=whole(env.SHARD_ROWS, environ),
                          run_lock_lease_seconds=whole(env.RUN_LOCK_LEASE_SECONDS, environ)),
        cache_table=env.required(env.CACHE_TABLE, environ),
        ledger_table=env.required(env.RUN_LEDGER_TABLE, environ),
        tokenization_secret_arn=env.required(env.TOKENIZATION_SECRET_ARN, environ))


@dataclass(frozen=True)
class AskEnvironment:
    """What /ask's function is given (stacks.ai_stack)."""

    buckets: Buckets
    cache_table: str
    model_id: str
    athena_workgroup: str
    knowledge_base_id: str
    answer_cache_table: str


def ask_environment(environ: Mapping[str, str] = os.environ) -> AskEnvironment:
    def value(name: str) -> str:
        return env.required(name, environ)

    return AskEnvironment(buckets=buckets(environ), cache_table=value(env.CACHE_TABLE),
                          model_id=value(env.MODEL_ID), athena_workgroup=value(env.ATHENA_WORKGROUP),
                          knowledge_base_id=value(env.KNOWLEDGE_BASE_ID),
                          answer_cache_table=value(env.ANSWER_CACHE_TABLE))


@cache
def client(service: str):
    return boto3.client(service)


def tokenizer(secret_arn: str) -> Tokenizer:
    """The PII key, from its Secrets Manager secret."""
    return Tokenizer(key_from_secret(client("secretsmanager"), secret_arn))


def ledger(table: str):
    """The run ledger: the run lock and every run id claimed."""
    return boto3.resource("dynamodb").Table(table)


def model_client(seconds_left: float):
    """A bedrock-runtime client whose one call (one attempt: a retry would outlive the budget) ends
    within `seconds_left`."""
    return boto3.client("bedrock-runtime", config=Config(
        connect_timeout=min(2.0, seconds_left), read_timeout=seconds_left, retries={"total_max_attempts": 1}))


def cache_table(table: str) -> CacheTable:
    """CacheLoad's writes: one low-level client for its threads. botocore's parameter validation
    is off: cache_items builds every item in one fixed shape, and DynamoDB validates each request."""
    writes = Config(parameter_validation=False, max_pool_connections=16)
    return CacheTable(boto3.client("dynamodb", config=writes), table)


def table(name: str):
    """A DynamoDB table read or written one item at a time (the prediction and answer caches)."""
    return boto3.resource("dynamodb").Table(name)


def knowledge_base_index(environ: Mapping[str, str] = os.environ):
    from engagement.knowledge_base import Index

    return Index(env.required(env.KNOWLEDGE_BASE_ID, environ),
                 env.required(env.KNOWLEDGE_BASE_DATA_SOURCE_ID, environ))


def assistant_tools(settings: AskEnvironment) -> list:
    """The assistant's tools, over this container's clients (imported here: only /ask loads sqlglot)."""
    from engagement import assistant_tools as tools

    athena = tools.AthenaRunner(client("athena"), settings.athena_workgroup)
    s3, places = client("s3"), settings.buckets
    return [tools.query_athena_tool(athena), tools.feature_stats_tool(athena),
            tools.explain_prediction_tool(s3, table(settings.cache_table), places),
            tools.what_if_tool(s3, places),
            tools.search_knowledge_base_tool(client("bedrock-agent-runtime"), s3, places,
                                             settings.knowledge_base_id)]
