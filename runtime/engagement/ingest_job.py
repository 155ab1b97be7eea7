"""The Ingest stage around `ingest_csv`: S3 in and out, and a command line for files on disk.

    python -m engagement.ingest_job customers.csv --out DIR --key-file PATH
"""

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from engagement.ingest import IngestError, IngestReport, ingest_csv
from engagement.s3uri import S3Uri
from engagement.tokenize import Tokenizer, key_from_file


@dataclass(frozen=True, kw_only=True)
class IngestLocations:
    source: S3Uri
    bronze: S3Uri
    quarantine: S3Uri
    report: S3Uri


def ingest_s3(s3, locations: IngestLocations, tokenizer: Tokenizer) -> dict:
    """Stream the source object through validation; upload bronze, quarantine and the report. A
    refused file uploads only the report, which says why; the source stays where it is."""
    body = s3.get_object(Bucket=locations.source.bucket, Key=locations.source.key)["Body"]
    with tempfile.TemporaryFile() as bronze, tempfile.TemporaryFile() as quarantine:
        try:
            report = ingest_csv(body, bronze=bronze, quarantine=quarantine, tokenizer=tokenizer,
                                source_name=str(locations.source))
        except IngestError as error:
            refusal = {"source": str(locations.source), "refused": str(error), "header": error.header,
                       "rows_in": 0, "rows_accepted": 0, "rows_quarantined": 0, "reconciled": True}
            s3.put_object(Bucket=locations.report.bucket, Key=locations.report.key,
                          Body=json.dumps(refusal, indent=2).encode(), ContentType="application/json")
            raise
        for handle, uri in ((bronze, locations.bronze), (quarantine, locations.quarantine)):
            handle.seek(0)
            s3.upload_fileobj(handle, uri.bucket, uri.key)
    summary = _summary(report, bronze=str(locations.bronze), quarantine=str(locations.quarantine))
    s3.put_object(Bucket=locations.report.bucket, Key=locations.report.key,
                  Body=json.dumps(summary, indent=2).encode(), ContentType="application/json")
    return summary


def ingest_file(source: Path, out: Path, tokenizer: Tokenizer) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    bronze_path, quarantine_path = out / "customers.parquet", out / "quarantine.jsonl"
    with source.open("rb") as src, bronze_path.open("wb") as bronze, quarantine_path.open("wb") as quarantine:
        report = ingest_csv(src, bronze=bronze, quarantine=quarantine, tokenizer=tokenizer, source_name=str(source))
    summary = _summary(report, bronze=str(bronze_path), quarantine=str(quarantine_path))
    (out / "ingest_report.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _summary(report: IngestReport, *, bronze: str, quarantine: str) -> dict:
    return {**report.to_dict(), "outputs": {"bronze": bronze, "quarantine": quarantine}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engagement.ingest_job", description=__doc__)
    parser.add_argument("source", type=Path, help="customers CSV")
    parser.add_argument("--out", type=Path, required=True, help="directory for bronze, quarantine and report")
    parser.add_argument("--key-file", type=Path, required=True,
                        help="HMAC key for PII tokens; created (owner-only) on first use. Keep it: another key "
                             "gives every customer other tokens")
    args = parser.parse_args(argv)
    try:
        summary = ingest_file(args.source, args.out, Tokenizer(key_from_file(args.key_file)))
    except (IngestError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{summary['rows_in']:,} rows in: {summary['rows_accepted']:,} accepted, "
          f"{summary['rows_quarantined']:,} quarantined {summary['quarantined_by_reason'] or ''}")
    for warning in summary["warnings"]:
        print(f"warning: {warning}")
    for example in summary["examples"][:5]:
        print(f"  line {example['line']}: {'; '.join(example['reasons'])}")
    print(f"report: {args.out / 'ingest_report.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
