"""Typed stage events: the state machine passes these shapes; anything else is rejected clearly."""

from dataclasses import MISSING, dataclass, field, fields


class BadEvent(ValueError):
    pass


def parse(model, event: dict):
    if not isinstance(event, dict):
        raise BadEvent(f"{model.__name__}: expected a JSON object, got {type(event).__name__}")
    values = {}
    for f in fields(model):
        if f.name in event and event[f.name] is not None:
            expected = f.metadata.get("type", str)
            if not isinstance(event[f.name], expected):
                raise BadEvent(f"{model.__name__}.{f.name}: expected {expected.__name__}, "
                               f"got {type(event[f.name]).__name__}")
            values[f.name] = event[f.name]
        elif f.default is MISSING and f.default_factory is MISSING:
            raise BadEvent(f"{model.__name__}: missing field {f.name!r}")
    return model(**values)


@dataclass(frozen=True)
class StartEvent:
    execution_name: str
    execution: str  # who claims the run: the execution's name and start time
    input: dict = field(default_factory=dict, metadata={"type": dict})  # the execution input

    @property
    def source_key(self) -> str | None:
        return self.input.get("source_key")


@dataclass(frozen=True)
class RunEvent:
    run_id: str


@dataclass(frozen=True)
class RegisterEvent:
    run_id: str
    outputs: list = field(metadata={"type": list})  # run-layout outputs whose folders become partitions


@dataclass(frozen=True)
class IngestEvent:
    run_id: str
    source_key: str  # one file of the upload
    part: str  # its id in the run's list of files (engagement.shards)


@dataclass(frozen=True)
class PublishEvent:
    run_id: str
    execution_name: str
    summary: dict = field(default_factory=dict, metadata={"type": dict})


@dataclass(frozen=True)
class ShardEvent:
    run_id: str
    shard: str  # a manifest item's id (engagement.shards): a shard, or an upload file's part


@dataclass(frozen=True)
class MergeShardsEvent:
    run_id: str
    stage: str  # the fanned-out stage whose results these are: Ingest, DataValidation, Inference, CacheLoad
    results: list = field(metadata={"type": list})  # the Distributed Map's output, one entry per shard
    rows_scored: int = field(default=0, metadata={"type": int})  # CacheLoad: the customers Inference scored


@dataclass(frozen=True)
class IngestPlanEvent:
    run_id: str
    source_key: str  # one CSV, or a prefix ending in "/" holding the upload's CSVs
