"""The deployment's settings as CDK context: each key, the PlatformSettings field it sets, how its
value is parsed, and what it means. `app.py` reads exactly these keys; the README's settings table
is generated from this table and PlatformSettings' defaults (`make docs`)."""

from collections.abc import Callable
from dataclasses import dataclass

from stacks.platform import PROFILES


def flag(value) -> bool:
    text = str(value).strip().lower()
    if text not in ("true", "false"):
        raise ValueError(f"expected true or false, got {value!r}")
    return text == "true"


def profile(value) -> str:
    if value not in PROFILES:
        raise ValueError(f"expected one of {', '.join(PROFILES)}, got {value!r}")
    return value


@dataclass(frozen=True)
class Setting:
    field: str  # of PlatformSettings, whose default is the setting's
    parse: Callable[[str], object]
    meaning: str
    when_unset: str = "(none)"  # what a default of None means


CONTEXT = {
    "athenaBytesScannedCutoff": Setting(
        "athena_bytes_scanned_cutoff", int,
        "per-query scan limit of the workgroup (its configuration is not enforced: Athena fails every CTAS that "
        "names its location in an enforcing workgroup; results still default to the encrypted results bucket)"),
    "assistantBytesScannedCutoff": Setting(
        "assistant_bytes_scanned_cutoff", int,
        "per-query scan limit of the assistant's own workgroup (its queries read a few columns of the published "
        "run; each is also stopped when the turn's 25 s budget ends, as Athena has no per-workgroup run-time "
        "limit)"),
    "encryptGlueCatalog": Setting(
        "encrypt_glue_catalog", flag,
        "encrypt the account's Glue Data Catalog with the data key. It is an **account-wide** setting: every "
        "principal that reads this account's catalog then needs `kms:Decrypt` on the key. Set `false` where other "
        "workloads share the catalog, and encrypt it with a key they can all use"),
    "uploadRetentionDays": Setting(
        "upload_retention_days", int,
        "raw uploads (full PII) are deleted this long after upload, their old versions 7 days later"),
    "quarantineRetentionDays": Setting("quarantine_retention_days", int, "quarantined rows (full PII) likewise"),
    "terminationProtection": Setting(
        "termination_protection", flag,
        "termination protection of `EngagementData`; local targets turn it off (moto's CloudFormation has no "
        "`UpdateTerminationProtection`)"),
    "mlImageUri": Setting(
        "ml_image_uri", str,
        "a pushed ml_container image (`ContainerImage.from_registry`) to run instead of building one, for "
        "deployers without Docker", when_unset="(none: build `ml_container/Dockerfile`)"),
    "assistantModelId": Setting(
        "assistant_model_id", str, "the assistant's Bedrock model or inference profile (account prerequisites above)"),
    "reserveConcurrency": Setting(
        "reserve_concurrency", flag,
        "reserve Lambda concurrency (2 per stage, 10 per API function); needs a quota of at least 134"),
    "profile": Setting("profile", profile, "`lean`: the cost-first deployment ([docs/costs.md](docs/costs.md))"),
    "shardRows": Setting(
        "shard_rows", int,
        "the most customers one Inference task or CacheLoad invocation takes (the Distributed Maps' items)"),
    "ingestConcurrency": Setting("ingest_concurrency", int, "upload files ingested at once"),
    "inferenceConcurrency": Setting(
        "inference_concurrency", int,
        "Inference tasks (2 vCPU each) at once: the account's Fargate vCPU quota must cover 2 × this"),
    "cacheLoadConcurrency": Setting(
        "cache_load_concurrency", int,
        "CacheLoad invocations at once: enough to reach the cache table's write throughput"),
    "stageMemoryMb": Setting(
        "stage_memory_mb", int, "every stage function's memory",
        when_unset="(each stage its own: `STAGES` in `stacks/pipeline_stack.py`)"),
    "taskMemoryMib": Setting(
        "task_memory_mib", int, "the training and inference tasks' memory (2 vCPU take 4096-16384)"),
    "maxTrainingRows": Setting(
        "max_training_rows", int, "the training sample (`MAX_TRAINING_ROWS` of the training task)",
        when_unset="(the container's default)"),
    "maxTestRows": Setting(
        "max_test_rows", int, "the held-out sample the metrics and fairness checks use (`MAX_TEST_ROWS`)",
        when_unset="(the container's default)"),
    "cacheWarmWritesPerSecond": Setting(
        "cache_warm_writes_per_second", int,
        "pre-warm the prediction cache to this many writes a second (DynamoDB warm throughput, at most 40,000; a "
        "one-time charge `python -m cost` does not price). A new on-demand table takes 4,000 at once, which "
        "bounds CacheLoad past ~5M customers"),
}
