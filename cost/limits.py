"""Whether a run of N customers fits what AWS allows, how long each stage takes there, and what it costs.

    python -m cost --rows 10000000 [--assembly cdk.out] [--run .localcloud/last-run.json]

From the synthesized app (each function's memory and timeout, each task's vCPUs and memory, each
state's timeout, the maps' concurrency, the shard size, the workgroup's scan cutoff, the state
machine's timeout) and the throughput each stage had in the last local run (seconds per customer,
measured), it works out every stage's time on AWS at N customers and checks it against its limit.
A size that breaks one is refused, naming the stage, the limit and the setting (CDK context) that
lifts it. Scaling, stated once here:
- a Lambda stage's time grows with customers, and with 1 / its vCPUs below one (Lambda gives a
  function 1 vCPU at 1,769 MB, in proportion below that; the stages use one core);
- a Fargate stage's CPU time grows with customers and divides by the task's vCPUs (cost.usage);
  each shard's task starts in FARGATE_STARTUP_S;
- a fanned-out stage runs its shards in waves of its map's concurrency;
- CacheLoad is bound by the slower of its writers and the table's write throughput;
- Training fits on at most its sample, so it stops growing past the sample's size;
- an Athena statement scans the bronze rows (bytes grow with customers) at ATHENA_BYTES_PER_S.
"""

import math
import re
from dataclasses import dataclass, replace

from cost.inventory import Inventory
from cost.usage import ASSUMPTIONS, Usage
from deployment.definition import walk
from engagement.validation import ID_BUCKETS
from engagement_ml.config import TrainConfig

LAMBDA_MAX_TIMEOUT_S = 900
LAMBDA_MAX_MEMORY_MB = 10_240
LAMBDA_MB_PER_VCPU = 1_769
# A new on-demand table serves up to 4,000 writes/s at once (more once it has seen more traffic, or
# pre-warmed); a table takes at most 40,000 a second (the default account quota per table).
DYNAMODB_NEW_ON_DEMAND_WRITES_PER_S = 4_000
DYNAMODB_TABLE_MAX_WRITES_PER_S = 40_000
MAP_MAX_CONCURRENCY = 10_000  # a Distributed Map's child executions at once
STATE_PAYLOAD_BYTES = 256 * 1024  # a state's input and output
MAP_RESULT_BYTES = 120  # one shard's entry in a map's results ({"shard", "items_written", "seconds"})
# ProfileFile holds its part's ids (8 bytes each, twice while they are sorted into buckets) and a
# batch of rows; MergeValidation holds one bucket of every part's ids at a time (engagement.validation's
# ID_BUCKETS), concatenated and sorted. Bases: `bench/localcloud.py --rows 100000 1000000 --file-rows
# 100000` measured ValidateFunction at 128 and 123 MB, MergeShards at 68 and 70 MB.
PART_BASE_MB = 126
PART_BYTES_PER_ROW = 16
MERGE_BASE_MB = 70
MERGE_BYTES_PER_BUCKET_ID = 24
LAMBDA_DEFAULT_TMP_MB = 512
# Ingest remembers each id of its file with the line it was on (a duplicate is quarantined naming
# it): `bench/localcloud.py --rows 100000 1000000` (one file each) measured IngestFunction at 208
# and 440 MB, about 260 bytes a row; reckoned at 300.
INGEST_BASE_MB = 200
INGEST_BYTES_PER_ROW = 300
ATHENA_BYTES_PER_S = 200 * 1024**2  # an assumption: Athena's scan rate for one CTAS over Parquet
FARGATE_STARTUP_S = ASSUMPTIONS["fargate_startup_seconds"]
TRAINING_SHARE = 0.8  # the training split's share of customers (sql/prepare_training.sql)
MAX_TRAINING_ROWS = TrainConfig.max_training_rows  # the container's default sample

# The context key that lifts each kind of limit (app.py's CONTEXT; a test ties the two).
SETTINGS = {"shards": "shardRows", "inference": "inferenceConcurrency", "cache": "cacheLoadConcurrency",
            "memory": "stageMemoryMb", "task_memory": "taskMemoryMib", "scan": "athenaBytesScannedCutoff",
            "table": "cacheWarmWritesPerSecond"}


@dataclass(frozen=True)
class App:
    """What the synthesized app sets, read from its templates."""

    shard_rows: int
    concurrency: dict[str, int]  # map state -> MaxConcurrency
    function_memory_mb: dict[str, int]  # Lambda state -> its function's memory
    function_timeout_s: dict[str, int]
    function_tmp_mb: dict[str, int]  # Lambda state -> its function's /tmp (ephemeral storage)
    task_vcpus: dict[str, float]  # ECS state -> its task's vCPUs
    state_timeout_s: dict[str, int]  # Task states with a TimeoutSeconds
    scan_cutoff_bytes: int
    machine_timeout_s: int
    cache_writes_per_s: int  # what the prediction cache takes at once


@dataclass(frozen=True)
class Stage:
    name: str
    seconds: float  # wall time on AWS
    limit_s: float | None  # what one invocation, task or query may take (None: no per-unit limit)
    unit_seconds: float  # one invocation, task or query
    note: str = ""
    breaks: str | None = None  # which limit it breaks and the setting that lifts it


def read_app(inventory: Inventory, definition: dict) -> App:
    functions = {r.logical_id: r.properties for r in inventory.of_type("AWS::Lambda::Function")}
    tasks = {r.logical_id: r.properties for r in inventory.of_type("AWS::ECS::TaskDefinition")}
    plan = functions[inventory.lambda_states["PlanShards"]]
    states = {name: state for _, name, state in walk(definition)}
    return App(
        shard_rows=int(plan["Environment"]["Variables"]["SHARD_ROWS"]),
        concurrency={name: s["MaxConcurrency"] for name, s in states.items() if s["Type"] == "Map"},
        function_memory_mb={s: functions[f].get("MemorySize", 128) for s, f in inventory.lambda_states.items()},
        function_timeout_s={s: functions[f].get("Timeout", 3) for s, f in inventory.lambda_states.items()},
        function_tmp_mb={s: functions[f].get("EphemeralStorage", {}).get("Size", LAMBDA_DEFAULT_TMP_MB)
                         for s, f in inventory.lambda_states.items()},
        task_vcpus={s: int(_task(tasks, t)["Cpu"]) / 1024 for s, t in inventory.task_states.items()},
        state_timeout_s={name: s["TimeoutSeconds"] for name, s in states.items() if "TimeoutSeconds" in s},
        scan_cutoff_bytes=min(r.properties["WorkGroupConfiguration"].get("BytesScannedCutoffPerQuery", 2**62)
                              for r in inventory.of_type("AWS::Athena::WorkGroup")
                              if "Assistant" not in r.logical_id),
        machine_timeout_s=definition["TimeoutSeconds"],
        cache_writes_per_s=cache_writes_per_s(inventory),
    )


def cache_writes_per_s(inventory: Inventory) -> int:
    """What the prediction cache takes at once: its warm throughput, or a new on-demand table's."""
    warm = [r.properties.get("WarmThroughput", {}).get("WriteUnitsPerSecond", 0)
            for r in inventory.of_type("AWS::DynamoDB::Table") if "PredictionCache" in r.logical_id]
    return max([DYNAMODB_NEW_ON_DEMAND_WRITES_PER_S, *warm])


def with_settings(app: App, settings: dict[str, int]) -> App:
    """The app as a synthesis with these context settings (the ones SETTINGS names) would read,
    without synthesizing it (a test compares the two)."""
    maps = {"inferenceConcurrency": "ScoreShards", "cacheLoadConcurrency": "LoadCacheShards"}
    unknown = set(settings) - {*maps, "shardRows", "athenaBytesScannedCutoff", "cacheWarmWritesPerSecond"}
    if unknown:
        raise ValueError(f"with_settings does not model {sorted(unknown)}: synthesize with them instead")
    concurrency = {**app.concurrency, **{maps[key]: value for key, value in settings.items() if key in maps}}
    return replace(app, concurrency=concurrency, shard_rows=settings.get("shardRows", app.shard_rows),
                   scan_cutoff_bytes=settings.get("athenaBytesScannedCutoff", app.scan_cutoff_bytes),
                   cache_writes_per_s=max(app.cache_writes_per_s, settings.get("cacheWarmWritesPerSecond", 0)))


def _task(tasks: dict, reference: str) -> dict:
    stem = re.sub(r"[0-9A-F]{8}$", "", reference)
    return next(p for logical_id, p in tasks.items() if stem.endswith(re.sub(r"[0-9A-F]{8}$", "", logical_id)))


def stages(app: App, usage: Usage, rows: int, upload_files: int = 1) -> list[Stage]:
    scale = rows / usage.rows
    shards = math.ceil(rows / app.shard_rows)
    return [
        _ingest(app, usage, rows, upload_files),
        _athena_stage(app, usage, scale),
        _validation(app, usage, rows, upload_files),
        _training(app, usage, rows),
        _inference(app, usage, rows, shards),
        _cache_load(app, usage, rows, shards),
    ]


def _ingest(app: App, usage: Usage, rows: int, files: int) -> Stage:
    """The upload in `files` files of equal size, ingested side by side."""
    rate = _rate(app, usage, "IngestFile")
    limit = min(app.function_timeout_s["IngestFile"], LAMBDA_MAX_TIMEOUT_S)
    largest, bound = largest_file(app, usage)
    unit = math.ceil(rows / files) / rate
    waves = math.ceil(files / app.concurrency["IngestFiles"])
    breaks = None
    if math.ceil(rows / files) > largest:
        breaks = (f"IngestFile: a file of {math.ceil(rows / files):,} rows is over the {largest:,} one file may hold "
                  f"({bound}); upload at least {math.ceil(rows / largest):,} files under a prefix "
                  f"(source_key \"customers/<upload>/\")")
    return Stage("IngestFiles", waves * unit, limit, unit,
                 f"{files:,} file(s) at {rate:,.0f} rows/s; a file may hold {largest:,} rows ({bound})", breaks)


def _rate(app: App, usage: Usage, state: str) -> float:
    """A Lambda stage's rows a second on AWS: measured locally on one core, scaled to its vCPUs."""
    return usage.rows / usage.state_seconds[state] * _lambda_vcpus(app.function_memory_mb[state])


def largest_file(app: App, usage: Usage) -> tuple[int, str]:
    """The most rows one upload file may hold, and the limit that sets it: Ingest's time, memory
    (it remembers the file's ids) and /tmp (it spools the bronze file there), ProfileFile's time
    and memory (it holds the part's ids)."""
    bronze_bytes_per_row = usage.bytes_of("processedbucket") * ASSUMPTIONS["bronze_share_of_processed"] / usage.rows
    bounds = {
        "IngestFile's 15 minutes": _rate(app, usage, "IngestFile") * min(app.function_timeout_s["IngestFile"],
                                                                        LAMBDA_MAX_TIMEOUT_S),
        f"IngestFile's {app.function_memory_mb['IngestFile']:,} MB":
            (app.function_memory_mb["IngestFile"] - INGEST_BASE_MB) * 1024**2 / INGEST_BYTES_PER_ROW,
        f"IngestFile's {app.function_tmp_mb['IngestFile']:,} MB of /tmp":
            app.function_tmp_mb["IngestFile"] * 1024**2 / bronze_bytes_per_row,
        "ProfileFile's time": _rate(app, usage, "ProfileFile") * min(app.function_timeout_s["ProfileFile"],
                                                                    LAMBDA_MAX_TIMEOUT_S),
        f"ProfileFile's {app.function_memory_mb['ProfileFile']:,} MB":
            (app.function_memory_mb["ProfileFile"] - PART_BASE_MB) * 1024**2 / PART_BYTES_PER_ROW,
    }
    bound = min(bounds, key=bounds.get)
    return int(bounds[bound]), bound


def _lambda_vcpus(memory_mb: int) -> float:
    return min(1.0, memory_mb / LAMBDA_MB_PER_VCPU)


def _validation(app: App, usage: Usage, rows: int, files: int) -> Stage:
    """One profile per bronze part (upload file), side by side; MergeValidation counts duplicate
    ids a bucket at a time (the part's own limits are the upload file's: `largest_file`)."""
    rate = _rate(app, usage, "ProfileFile")
    unit = math.ceil(rows / files) / rate
    waves = math.ceil(files / app.concurrency["ValidateFiles"])
    needed_mb = MERGE_BASE_MB + rows / ID_BUCKETS * MERGE_BYTES_PER_BUCKET_ID / 1024**2
    memory = app.function_memory_mb["MergeValidation"]
    breaks = None
    if needed_mb > memory:
        breaks = (f"MergeValidation holds {rows / ID_BUCKETS:,.0f} ids at a time ({needed_mb:,.0f} MB), over its "
                  f"{memory:,} MB; raise {SETTINGS['memory']} (up to {LAMBDA_MAX_MEMORY_MB:,})")
    return Stage("ValidateFiles", waves * unit, min(app.function_timeout_s["ProfileFile"], LAMBDA_MAX_TIMEOUT_S), unit,
                 f"{files:,} part(s) at {rate:,.0f} rows/s; the merge needs ~{needed_mb:,.0f} of {memory:,} MB", breaks)


def _athena_stage(app: App, usage: Usage, scale: float) -> Stage:
    bronze = usage.bytes_of("processedbucket") * ASSUMPTIONS["bronze_share_of_processed"] * scale
    seconds = bronze / ATHENA_BYTES_PER_S
    limit = app.state_timeout_s["PrepareTrainingData"]
    breaks = None
    if bronze > app.scan_cutoff_bytes:
        breaks = (f"PrepareData scans {bronze / 1024**3:,.1f} GiB of bronze rows, over the workgroup's "
                  f"{app.scan_cutoff_bytes / 1024**3:,.0f} GiB cutoff a query; raise {SETTINGS['scan']}")
    elif seconds > limit:
        breaks = f"PrepareData's statements need {seconds:,.0f} s, over the states' {limit} s timeout"
    return Stage("PrepareData", seconds, limit, seconds, f"{bronze / 1024**3:,.2f} GiB scanned a statement", breaks)


def _training(app: App, usage: Usage, rows: int) -> Stage:
    sample = MAX_TRAINING_ROWS / TRAINING_SHARE  # customers past which the fit stops growing
    local = usage.state_seconds["Training"] * min(rows, sample) / min(usage.rows, sample)
    seconds = local * usage.local_cpus / app.task_vcpus["Training"] + FARGATE_STARTUP_S
    limit = app.state_timeout_s["Training"]
    breaks = f"Training needs {seconds:,.0f} s, over its {limit} s timeout" if seconds > limit else None
    return Stage("Training", seconds, limit, seconds, f"fits on at most {MAX_TRAINING_ROWS:,} sampled rows", breaks)


def _inference(app: App, usage: Usage, rows: int, shards: int) -> Stage:
    per_row = usage.state_seconds["ScoreShard"] / usage.rows * usage.local_cpus  # CPU-seconds a customer
    unit = min(rows, app.shard_rows) * per_row / app.task_vcpus["ScoreShard"] + FARGATE_STARTUP_S
    concurrency = app.concurrency["ScoreShards"]
    waves = math.ceil(shards / concurrency)
    limit = app.state_timeout_s["ScoreShard"]
    breaks = None
    if unit > limit:
        breaks = (f"ScoreShard needs {unit:,.0f} s a shard, over its {limit} s timeout; lower {SETTINGS['shards']}")
    elif concurrency > MAP_MAX_CONCURRENCY:
        breaks = f"ScoreShards runs {concurrency:,} tasks at once, over {MAP_MAX_CONCURRENCY:,}; lower {SETTINGS['inference']}"
    return Stage("ScoreShards", waves * unit, limit, unit,
                 f"{shards:,} shards, {waves:,} wave(s) of {min(concurrency, shards):,} tasks", breaks)


def _cache_load(app: App, usage: Usage, rows: int, shards: int) -> Stage:
    memory = app.function_memory_mb["LoadCacheShard"]
    writer_rate = usage.cache_items / usage.state_seconds["LoadCacheShard"] * _lambda_vcpus(memory)  # items/s
    writers = min(app.concurrency["LoadCacheShards"], shards)
    rate = min(writers * writer_rate, app.cache_writes_per_s)  # the table's throughput binds
    unit = min(rows, app.shard_rows) / (rate / writers)
    limit = min(app.function_timeout_s["LoadCacheShard"], LAMBDA_MAX_TIMEOUT_S)
    table_binds = writers * writer_rate > app.cache_writes_per_s
    bound = f"the table's {app.cache_writes_per_s:,} writes/s" if table_binds else f"{writers:,} writers"
    breaks = None
    if app.cache_writes_per_s > DYNAMODB_TABLE_MAX_WRITES_PER_S:
        breaks = (f"the cache table is pre-warmed to {app.cache_writes_per_s:,} writes/s, over the "
                  f"{DYNAMODB_TABLE_MAX_WRITES_PER_S:,} a table takes (account quota); lower {SETTINGS['table']}")
    elif unit > limit:
        breaks = (f"LoadCacheShard needs {unit:,.0f} s a shard at {rate / writers:,.0f} items/s each, over the "
                  f"{limit} s Lambda limit; lower {SETTINGS['shards']} (or {SETTINGS['cache']}, when the table binds)")
    elif shards * MAP_RESULT_BYTES > STATE_PAYLOAD_BYTES:
        breaks = (f"{shards:,} shards' results exceed Step Functions' {STATE_PAYLOAD_BYTES // 1024} KiB payload; "
                  f"raise {SETTINGS['shards']}")
    return Stage("LoadCacheShards", rows / rate, limit, unit, f"{rate:,.0f} items/s in all, bound by {bound}"
                 + (f" (raise {SETTINGS['table']})" if table_binds else f" (raise {SETTINGS['cache']})"), breaks)


def check(app: App, usage: Usage, rows: int, upload_files: int = 1) -> tuple[list[Stage], float, list[str]]:
    """Every stage at `rows` customers uploaded in `upload_files` files, the run's wall time, and the
    limits broken (empty: it fits)."""
    found = stages(app, usage, rows, upload_files)
    by_name = {stage.name: stage.seconds for stage in found}
    measured_rest = sum(seconds for state, seconds in usage.state_seconds.items()
                        if state in ("ClaimRun", "PlanIngest", "MergeIngest", "MergeValidation", "PlanShards",
                                     "MergeInference",
                                     "RegisterPredictions", "RegisterOutputs", "PublishLatest"))
    wall = (by_name["IngestFiles"] + by_name["PrepareData"] + max(by_name["ValidateFiles"], by_name["Training"])
            + by_name["ScoreShards"] + max(by_name["LoadCacheShards"], by_name["PrepareData"]) + measured_rest)
    broken = [stage.breaks for stage in found if stage.breaks]
    if wall > app.machine_timeout_s:
        slowest = max(found, key=lambda stage: stage.seconds)
        broken.append(f"the run needs {wall / 60:,.0f} minutes, over the state machine's "
                      f"{app.machine_timeout_s / 60:.0f}-minute timeout; the slowest stage is {slowest.name} "
                      f"({slowest.seconds / 60:,.0f} minutes: {slowest.note})")
    return found, wall, broken


def fewest_files(app: App, usage: Usage, rows: int) -> int:
    """The fewest upload files of equal size that Ingest and DataValidation take one each of."""
    return max(1, math.ceil(rows / largest_file(app, usage)[0]))


def scaled_usage(usage: Usage, app: App, rows: int, upload_files: int = 1) -> Usage:
    """The run's usage at `rows` customers, with the shards the app would cut."""
    return replace(usage.scaled(rows), shards=math.ceil(rows / app.shard_rows), files=upload_files)


def render(app: App, usage: Usage, rows: int, cost_per_run: float,
           upload_files: int = 1) -> tuple[list[str], list[str]]:
    found, wall, broken = check(app, usage, rows, upload_files)
    shards = math.ceil(rows / app.shard_rows)
    out = [f"{rows:,} customers: {shards:,} shard(s) of at most {app.shard_rows:,} ({SETTINGS['shards']}); "
           f"measured throughput from {usage.rows:,} customers on {usage.local_cpus} CPUs", "",
           f"  {'stage':16} {'on AWS':>10} {'each unit':>10} {'unit limit':>10}  check  note"]
    for stage in found:
        limit = f"{stage.limit_s:,.0f} s" if stage.limit_s else "-"
        out.append(f"  {stage.name:16} {stage.seconds:>8,.0f} s {stage.unit_seconds:>8,.0f} s {limit:>10}  "
                   f"{'BREAKS' if stage.breaks else 'ok':5}  {stage.note}")
    out += ["", f"  the run: about {wall / 60:,.0f} minutes (the state machine allows "
                f"{app.machine_timeout_s / 60:.0f}); ${cost_per_run:,.2f} a run"]
    return out, broken
