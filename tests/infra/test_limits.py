"""python -m cost --rows N: each stage's time on AWS at N customers, checked against its limit."""

import ast
import math
from dataclasses import replace
from pathlib import Path

import pytest

from cost import limits
from cost.inventory import read_inventory
from cost.usage import Usage
from stacks.context import CONTEXT

REPO = Path(__file__).resolve().parents[2]
# A 100K run's figures, in the shape read_usage gives them (each stage's seconds on 4 CPUs).
MEASURED = Usage(rows=100_000, local_cpus=4, state_seconds={
    "IngestFile": 5.0, "ProfileFile": 2.5, "MergeValidation": 0.3, "Training": 40.0, "ScoreShard": 12.0, "LoadCacheShard": 20.0,
    "ClaimRun": 0.3, "PlanIngest": 0.3, "MergeIngest": 0.3, "PlanShards": 0.3, "MergeInference": 0.3, "RegisterPredictions": 0.3, "RegisterOutputs": 0.3,
    "PublishLatest": 0.3}, state_entries=40, cache_items=100_000,
    bucket_bytes={"engagementdata-processedbucket-x": 60 * 1024**2}, shards=1)


@pytest.fixture(scope="module")
def app(synthesized) -> limits.App:
    inventory = read_inventory(synthesized.outdir)
    return limits.read_app(inventory, inventory.definition)


def test_the_app_is_read_from_its_templates(app):
    assert app.shard_rows == 250_000
    assert app.concurrency == {"IngestFiles": 20, "ValidateFiles": 20, "ScoreShards": 20, "LoadCacheShards": 4}
    assert app.function_memory_mb["LoadCacheShard"] == app.function_memory_mb["MergeValidation"] == 1024
    assert app.task_vcpus["ScoreShard"] == 2
    assert app.state_timeout_s["ScoreShard"] == 2400 and app.machine_timeout_s == 7200
    assert app.scan_cutoff_bytes == 10 * 1024**3 and app.cache_writes_per_s == 4_000  # not pre-warmed


def test_ten_million_customers_fit_in_forty_shards_within_the_targets(app):
    found, wall, broken = limits.check(app, MEASURED, 10_000_000, upload_files=2)  # Ingest's memory: 2 files
    assert broken == []
    by_name = {stage.name: stage for stage in found}
    assert by_name["ScoreShards"].note.startswith("40 shards, 2 wave(s) of 20 tasks")
    # the cache: 4 writers of 1,024 MB (0.58 vCPU) at 5,000 items/s a vCPU outrun a new table's 4,000 writes/s
    assert by_name["LoadCacheShards"].seconds == pytest.approx(10_000_000 / 4_000)
    assert by_name["LoadCacheShards"].note.endswith("bound by the table's 4,000 writes/s (raise cacheWarmWritesPerSecond)")
    one_writer = replace(app, concurrency={**app.concurrency, "LoadCacheShards": 1})
    writer_rate = 100_000 / 20.0 * 1024 / limits.LAMBDA_MB_PER_VCPU
    [cache] = [s for s in limits.check(one_writer, MEASURED, 10_000_000)[0] if s.name == "LoadCacheShards"]
    assert cache.seconds == pytest.approx(10_000_000 / writer_rate)
    assert cache.note.endswith("bound by 1 writers (raise cacheLoadConcurrency)")
    warmed = replace(app, cache_writes_per_s=12_000)
    [cache] = [s for s in limits.check(warmed, MEASURED, 10_000_000)[0] if s.name == "LoadCacheShards"]
    assert cache.seconds == pytest.approx(10_000_000 / (4 * writer_rate))
    _, _, broken = limits.check(replace(app, cache_writes_per_s=50_000), MEASURED, 10_000_000)
    assert any("lower cacheWarmWritesPerSecond" in b for b in broken), broken
    measured_rest = 9 * 0.3  # ClaimRun, PlanIngest, MergeIngest, MergeValidation, PlanShards, MergeInference,
    # RegisterPredictions, RegisterOutputs, PublishLatest
    assert wall == pytest.approx(
        by_name["IngestFiles"].seconds + by_name["PrepareData"].seconds
        + max(by_name["ValidateFiles"].seconds, by_name["Training"].seconds) + by_name["ScoreShards"].seconds
        + max(by_name["LoadCacheShards"].seconds, by_name["PrepareData"].seconds) + measured_rest)


def test_a_size_that_breaks_a_limit_is_refused_naming_the_setting_that_lifts_it(app):
    whole = replace(app, shard_rows=10_000_000)  # -c shardRows=10000000: one shard a stage
    _, _, broken = limits.check(whole, MEASURED, 10_000_000)
    assert any(b.startswith("LoadCacheShard needs") and "lower shardRows" in b for b in broken), broken
    small_cutoff = replace(app, scan_cutoff_bytes=1024**3)
    _, _, broken = limits.check(small_cutoff, MEASURED, 10_000_000)
    assert any("raise athenaBytesScannedCutoff" in b for b in broken), broken
    largest, bound = limits.largest_file(app, MEASURED)
    memory = app.function_memory_mb["IngestFile"]
    assert bound == f"IngestFile's {memory:,} MB"
    assert largest == int((memory - limits.INGEST_BASE_MB) * 1024**2 / limits.INGEST_BYTES_PER_ROW)
    files = math.ceil(1_000_000_000 / largest)
    _, _, broken = limits.check(app, MEASURED, 1_000_000_000)
    assert any(b.startswith("IngestFile: a file of 1,000,000,000 rows") and
               f"upload at least {files} files under a prefix" in b for b in broken), broken
    _, _, broken = limits.check(app, MEASURED, 1_000_000_000, upload_files=files)
    assert not any("IngestFile" in b for b in broken), broken


def test_a_file_is_bounded_by_ingests_time_and_tmp_and_the_profiles_memory_too(app):
    slow = replace(MEASURED, state_seconds={**MEASURED.state_seconds, "IngestFile": 50.0})
    ingest_vcpus = min(1, app.function_memory_mb["IngestFile"] / limits.LAMBDA_MB_PER_VCPU)
    assert limits.largest_file(app, slow) == (int(100_000 / 50.0 * ingest_vcpus * 900), "IngestFile's 15 minutes")
    wide_rows = replace(MEASURED, bucket_bytes={"engagementdata-processedbucket-x": 600 * 1024**2})  # 2 KB of bronze a row
    largest, bound = limits.largest_file(app, wide_rows)
    assert bound == "IngestFile's 4,096 MB of /tmp" and largest == int(4096 * 1024**2 / (600 * 1024**2 / 3 / 100_000))
    small = replace(app, function_memory_mb={**app.function_memory_mb, "ProfileFile": 200})
    fast = replace(MEASURED, state_seconds={**MEASURED.state_seconds, "ProfileFile": 0.1})
    largest, bound = limits.largest_file(small, fast)
    assert bound == "ProfileFile's 200 MB" and largest == (200 - limits.PART_BASE_MB) * 1024**2 // limits.PART_BYTES_PER_ROW
    assert limits.fewest_files(small, fast, 10_000_000) == math.ceil(10_000_000 / largest)


def test_every_setting_named_is_a_context_key_of_the_app():
    assert set(limits.SETTINGS.values()) <= set(CONTEXT)


def test_the_app_with_settings_reads_as_a_synthesis_with_them(app, tmp_path_factory):
    """cost.doc's scenarios apply settings to the default app instead of synthesizing each."""
    from tests.conftest import synthesize

    fields = {key: setting.field for key, setting in CONTEXT.items()}
    settings = {"cacheWarmWritesPerSecond": 40_000, "cacheLoadConcurrency": 8, "inferenceConcurrency": 40,
                "athenaBytesScannedCutoff": 32 * 1024**3, "shardRows": 100_000}
    synthesized = synthesize(tmp_path_factory, "standard", **{fields[key]: value for key, value in settings.items()})
    inventory = read_inventory(synthesized.outdir)
    assert limits.read_app(inventory, inventory.definition) == limits.with_settings(app, settings) != app
    with pytest.raises(ValueError, match="does not model"):
        limits.with_settings(app, {"stageMemoryMb": 1024})


def test_scaled_usage_cuts_the_shards_the_app_would(app):
    assert limits.scaled_usage(MEASURED, app, 10_000_000).shards == math.ceil(10_000_000 / 250_000)


def test_validation_merges_a_bucket_of_ids_at_a_time_within_its_memory_or_names_the_setting(app):
    _, _, broken = limits.check(app, MEASURED, 100_000_000, upload_files=10)
    assert not any("MergeValidation" in b for b in broken), broken  # 1/64 of 100M ids: ~36 MB
    small = replace(app, function_memory_mb={**app.function_memory_mb, "MergeValidation": 128})
    _, _, broken = limits.check(small, MEASURED, 1_000_000_000, upload_files=100)
    assert any(b.startswith("MergeValidation holds 15,625,000 ids at a time") and "raise stageMemoryMb" in b
               for b in broken), broken


def test_a_pre_warmed_cache_is_declared_and_read_back():
    import aws_cdk as cdk
    from aws_cdk import aws_kms as kms
    from aws_cdk.assertions import Template

    from constructs.run_cache import RunCache
    from cost.inventory import Inventory, Resource

    stack = cdk.Stack(cdk.App(), "Warm")
    RunCache(stack, "PredictionCache", encryption_key=kms.Key(stack, "Key"), ttl_attribute="expires_at",
             partition_key="customer_id", rebuilt_by="tests", warm_writes_per_second=12_000)
    template = Template.from_stack(stack)
    template.has_resource_properties("AWS::DynamoDB::Table", {"WarmThroughput": {"WriteUnitsPerSecond": 12_000}})
    [(logical_id, table)] = template.find_resources("AWS::DynamoDB::Table").items()
    inventory = Inventory(resources=[Resource("Warm", logical_id, "AWS::DynamoDB::Table", table["Properties"])])
    assert limits.cache_writes_per_s(inventory) == 12_000
    assert limits.cache_writes_per_s(Inventory()) == 4_000
