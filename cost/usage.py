"""One run's usage, from the local run record (`.localcloud/last-run.json`), and its scaling.

Measured: each state's seconds, the rows, the cache items, the bytes each bucket holds after the
run, the local machine's CPUs. Translated with stated assumptions (ASSUMPTIONS), each one a
number a reader can change and a test pins:
- a Fargate stage's CPU time scales with the task's vCPUs (the ML code uses every CPU it has):
  seconds on a task = local seconds x local CPUs / task vCPUs, plus start-up, billed at least 60 s;
- every measured quantity grows linearly with rows (the stages are linear scans and fits);
- a state run once per item of a Distributed Map (a shard, an upload file) is measured as the sum
  of its items' seconds, which the merge step after the map reports; each item's task starts on
  its own. The sum is the items' work only when they ran one at a time (a 100K run with the
  default shardRows, as docs/cost_run.json): side by side on few CPUs, each takes longer.
"""

import json
from dataclasses import dataclass, replace
from pathlib import Path

ASSUMPTIONS = {
    "fargate_startup_seconds": 60,  # provisioning and image pull, billed
    "fargate_minimum_seconds": 60,
    "athena_minimum_bytes": 10 * 1024**2,
    "bronze_share_of_processed": 1 / 3,  # bronze, then training + test (= bronze) and inference (= bronze)
    "log_kb_per_invocation": 5,  # Powertools' structured lines: not measured locally
    "ask_model_calls_per_question": 2,  # the loop: a tool request, then the answer
    "ask_input_tokens_per_call": 4_000,  # system prompt, tool specs, question, tool results
    "ask_output_tokens_per_call": 400,
    "characters_per_token": 4,
    "chunk_characters": 1_500,
    "vector_bytes": 1024 * 4 + 1_024,  # 1,024 float32 dimensions and Bedrock's metadata
}


@dataclass(frozen=True)
class Usage:
    rows: int
    local_cpus: int
    state_seconds: dict[str, float]
    state_entries: int
    cache_items: int
    bucket_bytes: dict[str, int]  # bucket name -> bytes after the run
    shards: int = 1  # the run's shards: tasks or invocations of ScoreShard and LoadCacheShard
    files: int = 1  # the upload's files: invocations of IngestFile

    def units(self, state: str) -> int:
        """How many times a state ran: once per item of its map, else once."""
        return {"IngestFile": self.files, "ProfileFile": self.files, "ScoreShard": self.shards,
                "LoadCacheShard": self.shards}.get(state, 1)

    def scaled(self, rows: int) -> "Usage":
        factor = rows / self.rows
        return replace(self, rows=rows, state_seconds={s: t * factor for s, t in self.state_seconds.items()},
                       shards=max(1, round(self.shards * factor)),
                       cache_items=round(self.cache_items * factor),
                       bucket_bytes={b: round(n * factor) for b, n in self.bucket_bytes.items()})

    def bytes_of(self, logical_id: str) -> int:
        """Bytes of the bucket CloudFormation named after `logical_id` (its physical name holds it, in
        lower case), or of the buckets whose names hold a part of it ("processedbucket")."""
        return sum(n for name, n in self.bucket_bytes.items() if logical_id.lower() in name.replace("-", ""))


class RecordError(ValueError):
    pass


def read_usage(path: Path) -> Usage:
    if not path.is_file():
        raise RecordError(f"{path} not found: run the pipeline first (make run)")
    record = json.loads(path.read_text())
    if record.get("status") != "SUCCEEDED":
        raise RecordError(f"{path}: the last run did not succeed ({record.get('status')}); cost needs a full run")
    missing = [key for key in ("machine", "bucket_bytes") if key not in record]
    if missing:
        raise RecordError(f"{path} lacks {', '.join(missing)}: written by an older local cloud; run again")
    output = record["output"]
    if "inference" not in output or "seconds" not in output.get("checks", {}).get("validation", {}):
        raise RecordError(f"{path} was written before the stages fanned out; run again")
    # The fanned-out states' seconds: the sums the merge steps reported (a map's own seconds are
    # its wall time, with shards side by side).
    fanned_out = {"IngestFile": output["ingest"]["seconds"], "ProfileFile": output["checks"]["validation"]["seconds"],
                  "ScoreShard": output["inference"]["task_seconds"],
                  "LoadCacheShard": output["outputs"]["cache"]["seconds"]}
    return Usage(rows=output["ingest"]["rows_accepted"], local_cpus=record["machine"]["cpus"],
                 state_seconds={**{s["state"]: s["seconds"] for s in record["states"]}, **fanned_out},
                 state_entries=len(record["states"]) + 4 * (output["ingest"]["files"] + output["inference"]["shards"]),
                 cache_items=output["outputs"]["cache"]["items_written"], bucket_bytes=record["bucket_bytes"],
                 shards=output["inference"]["shards"], files=output["ingest"]["files"])
