"""The container: entrypoints against S3 (moto), clear failures, and an image definition that holds."""

import json
import re
from pathlib import Path

import boto3
import polars as pl
import pytest
from moto import mock_aws

from engagement_ml import storage
from engagement_ml.__main__ import main
from engagement_ml.config import ConfigError, available_cpus, train_config

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def s3_data(ml_data):
    with mock_aws():
        storage._s3.cache_clear()
        s3 = boto3.client("s3", region_name="us-east-1")
        for bucket in ("processed", "models", "predictions"):
            s3.create_bucket(Bucket=bucket)
        # The test split as Athena CTAS writes it: several files under one prefix.
        test = pl.read_parquet(ml_data / "test.parquet")
        for i, part in enumerate((test.head(600), test.tail(test.height - 600))):
            s3.put_object(Bucket="processed", Key=f"runs/r7/test/part-{i}.parquet", Body=_parquet(part))
        s3.put_object(Bucket="processed", Key="runs/r7/training/data.parquet",
                      Body=(ml_data / "training.parquet").read_bytes())
        s3.put_object(Bucket="processed", Key="runs/r7/inference/data.parquet",
                      Body=(ml_data / "inference.parquet").read_bytes())
        yield s3
        storage._s3.cache_clear()


def _parquet(frame: pl.DataFrame) -> bytes:
    import io

    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


TRAIN_ENV = {
    "TRAINING_DATA_URI": "s3://processed/runs/r7/training/",
    "TEST_DATA_URI": "s3://processed/runs/r7/test/",
    "MODEL_REGISTRY_URI": "s3://models/models",
    "MODEL_VERSION": "r7",
    "TRAINING_OUTPUT_URI": "s3://processed/runs/r7/training_summary.json",
    "MODEL_CARD_URI": "s3://models/model_cards/r7",
    "THREADS": "2",
}
INFER_ENV = {
    "INFERENCE_DATA_URI": "s3://processed/runs/r7/inference/",
    "MODEL_REGISTRY_URI": "s3://models/models",
    "MODEL_VERSION": "r7",
    "PREDICTIONS_URI": "s3://predictions/runs/r7/predictions.parquet",
    "INFERENCE_OUTPUT_URI": "s3://processed/runs/r7/inference_summary.json",
    "THREADS": "2",
}


def test_train_then_infer_entrypoints_read_and_write_s3(s3_data, capsys):
    assert main(["train"], TRAIN_ENV) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["passed"] is True and summary["model_version"] == "r7"
    stored = json.loads(s3_data.get_object(Bucket="processed", Key="runs/r7/training_summary.json")["Body"].read())
    assert stored["passed"] == summary["passed"]
    keys = {o["Key"] for o in s3_data.list_objects_v2(Bucket="models")["Contents"]}
    assert {"models/engagement/r7/metadata.json", "models/engagement/r7/model.ubj",
            "models/anomaly/r7/model.pkl", "model_cards/r7/model_card.md"} <= keys

    assert main(["infer"], INFER_ENV) == 0
    inference = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert inference["rows_scored"] == 6_000
    body = s3_data.get_object(Bucket="predictions", Key="runs/r7/predictions.parquet")["Body"].read()
    assert pl.read_parquet(body).height == 6_000


def test_missing_setting_fails_with_its_name(capsys):
    env = {k: v for k, v in TRAIN_ENV.items() if k != "TEST_DATA_URI"}
    assert main(["train"], env) == 1
    assert "environment variable TEST_DATA_URI is required" in capsys.readouterr().err


def test_missing_data_fails_the_task(s3_data, capsys):
    assert main(["train"], {**TRAIN_ENV, "TRAINING_DATA_URI": "s3://processed/runs/none/"}) == 1
    assert "no data objects under s3://processed/runs/none/" in capsys.readouterr().err


def test_unknown_model_version_fails_inference(s3_data, capsys):
    assert main(["infer"], {**INFER_ENV, "MODEL_VERSION": "never-trained"}) == 1
    assert "model engagement version never-trained not found" in capsys.readouterr().err


def test_usage_and_bad_numbers():
    assert main([], {}) == 2
    with pytest.raises(ConfigError, match="QUALITY_MIN_ENGAGEMENT_R2 must be a number"):
        train_config({**TRAIN_ENV, "QUALITY_MIN_ENGAGEMENT_R2": "high"})
    assert train_config({**TRAIN_ENV, "FAIRNESS_MIN_FOUR_FIFTHS_RATIO": "0.9"}).fairness.min_four_fifths_ratio == 0.9
    assert train_config({**TRAIN_ENV, "MAX_TRAINING_ROWS": "0"}).max_training_rows == 0
    assert train_config(TRAIN_ENV).max_training_rows == 250_000
    with pytest.raises(ConfigError, match="MAX_TRAINING_ROWS must be a whole number"):
        train_config({**TRAIN_ENV, "MAX_TRAINING_ROWS": "-5"})


def test_threads_follow_the_cpus_available():
    assert 1 <= available_cpus() <= 512


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)", line.strip())
        if match:
            found[match.group(1).lower()] = match.group(2)
    return found


def test_image_pins_match_the_repository_pins():
    image, repo = pins(REPO / "ml_container/requirements.txt"), pins(REPO / "requirements.txt")
    assert image, "the image must pin its packages"
    assert {name: version for name, version in image.items() if repo.get(name) != version} == {}
    text = (REPO / "ml_container/requirements.txt").read_text()
    assert all("==" in line for line in text.splitlines() if line.strip() and not line.startswith("#"))


def test_dockerfile_runs_as_non_root_with_the_entrypoint():
    dockerfile = (REPO / "ml_container/Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    assert 'ENTRYPOINT ["python", "-m", "engagement_ml"]' in dockerfile
    assert re.search(r"^FROM python:3\.11-slim", dockerfile, re.MULTILINE)
    for copied in re.findall(r"^COPY (\S+)", dockerfile, re.MULTILINE):
        assert (REPO / copied).exists(), copied


def test_a_shard_setting_that_is_not_a_manifest_item_is_refused_by_name():
    from engagement_ml.config import infer_config

    env = {"INFERENCE_DATA_URI": "s3://p/runs/r/inference/", "MODEL_REGISTRY_URI": "s3://m/models",
           "MODEL_VERSION": "r", "PREDICTIONS_URI": "s3://p/predictions/shard-00000.parquet"}
    assert infer_config(env).shard is None
    item = {"shard": "00001", "uri": "s3://p/runs/r/inference/f.parquet", "first_row": 250_000, "rows": 10}
    assert infer_config({**env, "INFERENCE_SHARD": json.dumps(item)}).shard == item
    with pytest.raises(ConfigError, match="INFERENCE_SHARD must be a JSON object"):
        infer_config({**env, "INFERENCE_SHARD": "{shard: 1"})
    with pytest.raises(ConfigError, match=r"wrong or missing: first_row, rows"):
        infer_config({**env, "INFERENCE_SHARD": json.dumps({"shard": "1", "uri": "s3://x", "first_row": "0"})})
