"""Write generated chunks as CSV (what users upload) and Parquet, plus manifest and anomaly ids."""

import hashlib
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from datagen.ceilings import CeilingAccumulator
from datagen.generator import CHUNK_ROWS, ENGAGEMENT_NOISE_SD, LTV_LOG_NOISE_SD, GeneratorConfig, generate

GENERATOR_VERSION = 1


def write_dataset(config: GeneratorConfig, out: Path, *, progress=sys.stderr) -> dict:
    """Generate `config.rows` customers into `out`; return the manifest (also written to disk)."""
    out.mkdir(parents=True, exist_ok=True)
    csv_path, parquet_path = out / "customers.csv", out / "customers.parquet"
    anomalies_path = out / "anomalous_ids.txt"
    ceilings = CeilingAccumulator()
    anomalous_ids: list[str] = []
    started = time.perf_counter()
    csv_writer = parquet_writer = None
    try:
        for chunk in generate(config):
            if csv_writer is None:
                csv_writer = pacsv.CSVWriter(
                    csv_path, chunk.table.schema, write_options=pacsv.WriteOptions(quoting_style="needed")
                )
                parquet_writer = pq.ParquetWriter(parquet_path, chunk.table.schema, compression="snappy")
            csv_writer.write_table(chunk.table)
            parquet_writer.write_table(chunk.table)
            ceilings.add(chunk)
            anomalous_ids.extend(chunk.anomalous_ids)
            if config.rows > CHUNK_ROWS and progress:
                elapsed = time.perf_counter() - started
                print(f"  {ceilings.rows:>12,} / {config.rows:,} rows ({ceilings.rows / config.rows:4.0%})"
                      f"  {elapsed:6.1f} s", file=progress, flush=True)
    finally:
        if csv_writer is not None:
            csv_writer.close()
            parquet_writer.close()
    anomalies_path.write_text("".join(f"{customer_id}\n" for customer_id in anomalous_ids))
    manifest = {
        "generator_version": GENERATOR_VERSION,
        "parameters": {**asdict(config), "as_of": config.as_of.isoformat(), "chunk_rows": CHUNK_ROWS},
        "seed": config.seed,
        "rows": ceilings.rows,
        "anomalous_rows": len(anomalous_ids),
        "noise": {"engagement_sd": ENGAGEMENT_NOISE_SD, "ltv_log_sd": LTV_LOG_NOISE_SD},
        "ceilings": ceilings.result(),
        "files": {path.name: _sha256(path) for path in (csv_path, parquet_path, anomalies_path)},
        "generation_seconds": round(time.perf_counter() - started, 2),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
