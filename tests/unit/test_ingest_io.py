"""Ingest around the core: keys, S3 in and out (moto), the command line, and a corruption fuzz."""

import io
import json
import random
import stat

import boto3
import pytest
from moto import mock_aws

from datagen.generator import GeneratorConfig
from datagen.writer import write_dataset
from engagement.ingest import IngestError, ingest_csv
from engagement.ingest_job import IngestLocations, ingest_s3, main
from engagement.s3uri import S3Uri
from engagement.tokenize import TokenizationKeyError, Tokenizer, key_from_file, key_from_secret


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen")
    write_dataset(GeneratorConfig(rows=500, seed=9), out, progress=None)
    return out


def test_tokens_are_keyed_stable_and_irreversible():
    a, b = Tokenizer(b"a" * 32), Tokenizer(b"b" * 32)
    assert a.token("ann@example.com") == a.token("ann@example.com")
    assert a.token("ann@example.com") != b.token("ann@example.com")
    assert "ann" not in a.token("ann@example.com")
    with pytest.raises(TokenizationKeyError, match="at least 32 bytes, got 5"):
        Tokenizer(b"short")


def test_local_key_file_is_created_private_once(tmp_path):
    path = tmp_path / "keys" / "tokenization.key"
    key = key_from_file(path)
    assert len(key) == 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert key_from_file(path) == key


@mock_aws
def test_key_from_secrets_manager():
    client = boto3.client("secretsmanager", region_name="us-east-1")
    client.create_secret(Name="tokenization", SecretBinary=b"s" * 32)
    client.create_secret(Name="as-text", SecretString="t" * 40)
    assert key_from_secret(client, "tokenization") == b"s" * 32
    assert key_from_secret(client, "as-text") == b"t" * 40


@mock_aws
def test_ingest_s3_streams_the_object_and_writes_all_outputs(generated):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="raw")
    s3.create_bucket(Bucket="processed")
    data = (generated / "customers.csv").read_bytes().replace(b',"F",', b',"Q",', 1)
    s3.put_object(Bucket="raw", Key="customers/customers.csv", Body=data)
    locations = IngestLocations(
        source=S3Uri.parse("s3://raw/customers/customers.csv"),
        bronze=S3Uri.parse("s3://processed/runs/r1/bronze/customers.parquet"),
        quarantine=S3Uri.parse("s3://raw/quarantine/r1/customers.jsonl"),
        report=S3Uri.parse("s3://processed/runs/r1/ingest_report.json"),
    )
    summary = ingest_s3(s3, locations, Tokenizer(b"k" * 32))
    assert summary["rows_in"] == 500 and summary["rows_accepted"] == 499 and summary["reconciled"]
    stored = json.loads(s3.get_object(Bucket="processed", Key="runs/r1/ingest_report.json")["Body"].read())
    assert stored == summary
    quarantined = s3.get_object(Bucket="raw", Key="quarantine/r1/customers.jsonl")["Body"].read().splitlines()
    assert len(quarantined) == 1
    assert s3.head_object(Bucket="processed", Key="runs/r1/bronze/customers.parquet")["ContentLength"] > 0


def test_s3_uri_parsing():
    assert S3Uri.parse("s3://bucket/a/b.csv") == S3Uri("bucket", "a/b.csv")
    assert str(S3Uri("b", "k")) == "s3://b/k"
    for bad in ("bucket/key", "s3://bucket", "s3:///key", "s3://bucket/"):
        with pytest.raises(ValueError, match="not an s3://bucket/key address"):
            S3Uri.parse(bad)


def test_command_line_reports_counts_and_examples(generated, tmp_path, capsys):
    data = (generated / "customers.csv").read_bytes()
    lines = data.split(b"\n")
    lines[3] = lines[3].replace(b",", b";", 5)
    (tmp_path / "in.csv").write_bytes(b"\n".join(lines))
    code = main([str(tmp_path / "in.csv"), "--out", str(tmp_path / "out"), "--key-file", str(tmp_path / "key")])
    out = capsys.readouterr().out
    assert code == 0
    assert "500 rows in: 499 accepted, 1 quarantined {'field_count': 1}" in out
    assert "line 4: the row has 47 fields, the header has 52" in out
    report = json.loads((tmp_path / "out" / "ingest_report.json").read_text())
    assert report["outputs"]["quarantine"].endswith("quarantine.jsonl")


def test_command_line_explains_an_empty_file(tmp_path, capsys):
    (tmp_path / "empty.csv").write_bytes(b"")
    assert main([str(tmp_path / "empty.csv"), "--out", str(tmp_path / "o"), "--key-file", str(tmp_path / "k")]) == 1
    assert "file is empty" in capsys.readouterr().err


CORRUPTIONS = (
    lambda line, rng: b"",
    lambda line, rng: line[: rng.randrange(len(line))],
    lambda line, rng: line + b",extra",
    lambda line, rng: line.replace(b",", b",,", 1),
    lambda line, rng: bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40))),
    lambda line, rng: line.replace(b"a", b"\xff", 1),
    lambda line, rng: line.replace(b",", b',"', 1),
    lambda line, rng: line.replace(b"1", b"-1"),
)


@pytest.mark.parametrize("seed", range(12))
def test_no_row_is_ever_lost_whatever_the_corruption(generated, seed):
    rng = random.Random(seed)
    lines = (generated / "customers.csv").read_bytes().rstrip(b"\n").split(b"\n")
    for index in rng.sample(range(1, len(lines)), 25):
        lines[index] = rng.choice(CORRUPTIONS)(lines[index], rng).replace(b"\n", b"").replace(b"\r", b"")
    data = b"\n".join(lines) + b"\n"
    try:
        report = ingest_csv(io.BytesIO(data), bronze=io.BytesIO(), quarantine=io.BytesIO(),
                            tokenizer=Tokenizer(b"k" * 32), source_name="fuzz.csv", block_bytes=8192)
    except IngestError as error:  # refused whole with a message: nothing was published
        pytest.fail(f"refused instead of quarantining: {error}")
    # Every line is a row, or a further line of a record whose quoted value spans lines.
    assert report.rows_in + report.continuation_lines == len(lines) - 1
    assert report.reconciled
    assert report.rows_quarantined >= 1
