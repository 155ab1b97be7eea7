"""Task settings, as an ECS task passes them: environment variables (overridable per run)."""

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from engagement import environment as names
from engagement_ml.fairness import FairnessThresholds


@dataclass(frozen=True, kw_only=True)
class QualityThresholds:
    min_engagement_r2: float = 0.6
    min_churn_roc_auc: float = 0.7
    min_churn_recall: float = 0.75
    min_ltv_coverage: float = 0.7
    max_ltv_coverage: float = 0.9
    min_content_top3_accuracy: float = 0.35


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    training_data_uri: str
    test_data_uri: str
    model_registry_uri: str
    model_version: str
    output_uri: str | None = None  # where the training summary (quality-gate input) is written
    model_card_uri: str | None = None
    anomaly_labels_uri: str | None = None  # the generator's anomalous_ids.txt, when known
    generator_manifest_uri: str | None = None  # the generator's ceilings, when known
    threads: int | None = None
    # Models fit on at most this many training rows (a fixed-seed sample; 0 = all): what fitting on
    # more buys, and what it costs, is `python bench/ml.py --rows 1000000 --max-training-rows 0 --docs`.
    max_training_rows: int = 250_000
    max_test_rows: int = 250_000  # the held-out rows the metrics and fairness checks use (0 = all)
    quality: QualityThresholds = field(default_factory=QualityThresholds)
    fairness: FairnessThresholds = field(default_factory=FairnessThresholds)


@dataclass(frozen=True, kw_only=True)
class InferConfig:
    inference_data_uri: str
    model_registry_uri: str
    model_version: str
    predictions_uri: str
    output_uri: str | None = None
    threads: int | None = None
    # One manifest item of engagement.shards ({"shard", "uri", "first_row", "rows"}); None: every
    # row under inference_data_uri.
    shard: dict | None = None


def available_cpus() -> int:
    """CPUs this process may use: the cgroup quota in a container (ECS/Fargate), else affinity."""
    try:
        quota, period = open("/sys/fs/cgroup/cpu.max").read().split()
        if quota != "max":
            return max(1, int(int(quota) // int(period)))
    except (OSError, ValueError):
        pass
    return len(os.sched_getaffinity(0))


def train_config(env: Mapping[str, str]) -> TrainConfig:
    return TrainConfig(
        training_data_uri=_required(env, names.TRAINING_DATA_URI),
        test_data_uri=_required(env, names.TEST_DATA_URI),
        model_registry_uri=_required(env, names.MODEL_REGISTRY_URI),
        model_version=_required(env, names.MODEL_VERSION),
        output_uri=env.get(names.TRAINING_OUTPUT_URI),
        model_card_uri=env.get(names.MODEL_CARD_URI),
        anomaly_labels_uri=env.get(names.ANOMALY_LABELS_URI),
        generator_manifest_uri=env.get(names.GENERATOR_MANIFEST_URI),
        threads=_int(env, names.THREADS),
        max_training_rows=_count(env, names.MAX_TRAINING_ROWS, default=TrainConfig.max_training_rows),
        max_test_rows=_count(env, names.MAX_TEST_ROWS, default=TrainConfig.max_test_rows),
        quality=_thresholds(QualityThresholds, env, names.QUALITY_PREFIX),
        fairness=_thresholds(FairnessThresholds, env, names.FAIRNESS_PREFIX),
    )


def infer_config(env: Mapping[str, str]) -> InferConfig:
    return InferConfig(
        inference_data_uri=_required(env, names.INFERENCE_DATA_URI),
        model_registry_uri=_required(env, names.MODEL_REGISTRY_URI),
        model_version=_required(env, names.MODEL_VERSION),
        predictions_uri=_required(env, names.PREDICTIONS_URI),
        output_uri=env.get(names.INFERENCE_OUTPUT_URI),
        threads=_int(env, names.THREADS),
        shard=_shard(env, names.INFERENCE_SHARD),
    )


SHARD_FIELDS = {"shard": str, "uri": str, "first_row": int, "rows": int}


def _shard(env: Mapping[str, str], name: str) -> dict | None:
    text = env.get(name, "").strip()
    if not text:
        return None
    try:
        shard = json.loads(text)
    except ValueError as error:
        raise ConfigError(f"{name} must be a JSON object, got {text[:200]!r}") from error
    wrong = [f for f, kind in SHARD_FIELDS.items() if not isinstance(shard, dict) or not isinstance(shard.get(f), kind)]
    if wrong:
        raise ConfigError(f"{name} needs {', '.join(f'{f} ({k.__name__})' for f, k in SHARD_FIELDS.items())}; "
                          f"wrong or missing: {', '.join(wrong)}")
    return shard


class ConfigError(Exception):
    pass


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"environment variable {name} is required")
    return value


def _int(env: Mapping[str, str], name: str) -> int | None:
    value = env.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError as error:
        raise ConfigError(f"{name} must be an integer, got {value!r}") from error


def _count(env: Mapping[str, str], name: str, *, default: int) -> int:
    value = _int(env, name)
    if value is None:
        return default
    if value < 0:
        raise ConfigError(f"{name} must be a whole number (0 for no limit), got {env.get(name)!r}")
    return value


def _thresholds(cls, env: Mapping[str, str], prefix: str):
    """Every field can be overridden as PREFIX + FIELD_NAME in upper case."""
    overrides = {}
    for f in fields(cls):
        name = prefix + f.name.upper()
        if env.get(name):
            try:
                overrides[f.name] = float(env[name])
            except ValueError as error:
                raise ConfigError(f"{name} must be a number, got {env[name]!r}") from error
    return cls(**overrides)
