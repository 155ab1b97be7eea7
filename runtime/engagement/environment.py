"""The environment variables the stage and API functions read, each name stated once: the stacks
set them by these names and the handlers read them by these names (`required` names a missing
one instead of failing on a bare KeyError mid-request)."""

import os
from collections.abc import Mapping

CACHE_TABLE = "CACHE_TABLE"
CACHE_TTL_ATTRIBUTE = "CACHE_TTL_ATTRIBUTE"
RUN_LEDGER_TABLE = "RUN_LEDGER_TABLE"
RUN_LOCK_LEASE_SECONDS = "RUN_LOCK_LEASE_SECONDS"
TOKENIZATION_SECRET_ARN = "TOKENIZATION_SECRET_ARN"
MIN_ROWS = "MIN_ROWS"
SHARD_ROWS = "SHARD_ROWS"
DEFAULT_SOURCE_KEY = "DEFAULT_SOURCE_KEY"
MAX_QUARANTINE_SHARE = "MAX_QUARANTINE_SHARE"
KNOWLEDGE_BASE_ID = "KNOWLEDGE_BASE_ID"
KNOWLEDGE_BASE_DATA_SOURCE_ID = "KNOWLEDGE_BASE_DATA_SOURCE_ID"
MODEL_ID = "MODEL_ID"
ATHENA_WORKGROUP = "ATHENA_WORKGROUP"
ANSWER_CACHE_TABLE = "ANSWER_CACHE_TABLE"


def bucket_variable(place: str) -> str:
    """The variable that holds a bucket's name (`engagement.layout.Buckets` field `raw`: RAW_BUCKET)."""
    return f"{place.upper()}_BUCKET"


def bucket_variables(bucket_names: Mapping[str, str]) -> dict[str, str]:
    return {bucket_variable(place): name for place, name in bucket_names.items()}


class MissingSetting(RuntimeError):
    """A variable the function needs is not set: a deployment error, named."""


def required(name: str, env: Mapping[str, str] = os.environ) -> str:
    value = env.get(name)
    if not value:
        raise MissingSetting(f"environment variable {name} is not set; the stack that deploys this function sets it")
    return value
