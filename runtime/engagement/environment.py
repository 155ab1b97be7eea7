"""The environment variables the stage and API functions read, each name stated once: the stacks
set them by these names and the handlers read them by these names, at cold start, so a missing or
malformed one fails the function's init naming it instead of failing a request."""

import os
from collections.abc import Mapping

CACHE_TABLE = "CACHE_TABLE"
RUN_LEDGER_TABLE = "RUN_LEDGER_TABLE"
RUN_LOCK_LEASE_SECONDS = "RUN_LOCK_LEASE_SECONDS"
TOKENIZATION_SECRET_ARN = "TOKENIZATION_SECRET_ARN"
MIN_ROWS = "MIN_ROWS"
SHARD_ROWS = "SHARD_ROWS"
KNOWLEDGE_BASE_ID = "KNOWLEDGE_BASE_ID"
KNOWLEDGE_BASE_DATA_SOURCE_ID = "KNOWLEDGE_BASE_DATA_SOURCE_ID"
MODEL_ID = "MODEL_ID"
ATHENA_WORKGROUP = "ATHENA_WORKGROUP"
ANSWER_CACHE_TABLE = "ANSWER_CACHE_TABLE"

# The ML tasks' variables: the state machine and the ML stack set them, engagement_ml.config reads them.
TRAINING_DATA_URI = "TRAINING_DATA_URI"
TEST_DATA_URI = "TEST_DATA_URI"
MODEL_REGISTRY_URI = "MODEL_REGISTRY_URI"
MODEL_VERSION = "MODEL_VERSION"
TRAINING_OUTPUT_URI = "TRAINING_OUTPUT_URI"
MODEL_CARD_URI = "MODEL_CARD_URI"
ANOMALY_LABELS_URI = "ANOMALY_LABELS_URI"
GENERATOR_MANIFEST_URI = "GENERATOR_MANIFEST_URI"
THREADS = "THREADS"
MAX_TRAINING_ROWS = "MAX_TRAINING_ROWS"
MAX_TEST_ROWS = "MAX_TEST_ROWS"
QUALITY_PREFIX, FAIRNESS_PREFIX = "QUALITY_", "FAIRNESS_"  # + a threshold's field name in upper case
INFERENCE_DATA_URI = "INFERENCE_DATA_URI"
PREDICTIONS_URI = "PREDICTIONS_URI"
INFERENCE_OUTPUT_URI = "INFERENCE_OUTPUT_URI"
INFERENCE_SHARD = "INFERENCE_SHARD"


def bucket_variable(place: str) -> str:
    """The variable that holds a bucket's name (`engagement.layout.Buckets` field `raw`: RAW_BUCKET)."""
    return f"{place.upper()}_BUCKET"


def bucket_variables(bucket_names: Mapping[str, str]) -> dict[str, str]:
    return {bucket_variable(place): name for place, name in bucket_names.items()}


class SettingError(RuntimeError):
    """A variable the function needs is missing or malformed: a deployment error, named."""


def required(name: str, env: Mapping[str, str] = os.environ) -> str:
    value = env.get(name)
    if not value:
        raise SettingError(f"environment variable {name} is not set; the stack that deploys this function sets it")
    return value


def positive_whole_number(name: str, env: Mapping[str, str] = os.environ) -> int:
    value = required(name, env)
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise SettingError(f"environment variable {name} is {value!r}, not a whole number of at least 1")
    return number
