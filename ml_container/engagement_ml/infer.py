"""Inference: score one shard of the run's customers (or all of them) with every model, attach
top-5 reasons, write the shard's predictions file and its summary part (engagement.shards)."""

import time
from datetime import UTC, datetime

import numpy as np
import polars as pl

import engagement_ml.models as models
from engagement.predictions_schema import PREDICTION_COLUMN_NAMES
from engagement.schema import ID_COLUMN
from engagement.shards import engagement_histogram
from engagement_ml import explain, registry, storage, what_if
from engagement_ml.config import InferConfig, available_cpus
from engagement_ml.features import FeatureState, build_features

def infer(config: InferConfig) -> dict:
    started = time.perf_counter()
    threads = config.threads or available_cpus()
    timings: dict[str, float] = {}
    loaded = {name: registry.load(config.model_registry_uri, name, config.model_version)
              for name in registry.MODEL_NAMES}
    frame = _rows(config)
    timings["load"] = round(time.perf_counter() - started, 3)

    t = time.perf_counter()
    state = FeatureState.from_dict(loaded["engagement"][1]["feature_state"])
    X = build_features(frame, state)
    model = {name: value[0] for name, value in loaded.items()}
    settings = {name: value[1]["settings"] for name, value in loaded.items()}
    scores = _scores(model, settings, X, threads)
    timings["score"] = round(time.perf_counter() - t, 3)

    t = time.perf_counter()
    reasons = {prefix: explain.top_reasons(explain.contributions(model[name], X, threads), X, state.feature_names)
               for prefix, name in (("", "engagement"), ("churn_", "churn"))}
    timings["explain"] = round(time.perf_counter() - t, 3)

    t = time.perf_counter()
    scenarios = what_if.score_scenarios(frame, state, model, {name: scores[name] for name in (
        "engagement", "churn", "ltv_p50")}, threads)
    timings["what_if"] = round(time.perf_counter() - t, 3)

    t = time.perf_counter()
    predictions = _predictions(frame, scores, reasons, config.model_version)
    storage.write_parquet(config.predictions_uri, predictions.select(PREDICTION_COLUMN_NAMES))
    timings["write"] = round(time.perf_counter() - t, 3)
    timings["total"] = round(time.perf_counter() - started, 3)
    summary = _summary(config, predictions.height, scores, settings, scenarios, threads, timings)
    if config.output_uri:
        storage.write_json(config.output_uri, summary)
    return summary


def _rows(config: InferConfig) -> pl.DataFrame:
    """The shard's rows, or every row under the inference data URI."""
    if config.shard is None:
        frame = storage.read_parquet(config.inference_data_uri)
    else:
        frame = storage.read_parquet_rows(config.shard["uri"], first_row=config.shard["first_row"],
                                          rows=config.shard["rows"])
    if frame.height == 0:
        raise ValueError(f"no rows to score at {config.inference_data_uri} (shard {config.shard})")
    return frame


def _scores(model: dict, settings: dict, X, threads: int) -> dict[str, np.ndarray]:
    """Every model's output for every row."""
    engagement = models.engagement_scores(model["engagement"], X, threads)
    churn = models.predict(model["churn"], X, threads)
    p10, p50, p90 = models.ltv_quantiles(model["ltv"], X, threads)
    top_content, top_content_p = models.top_categories(model["content"], X, threads)
    classes = np.array(settings["content"]["classes"], dtype=object)
    anomaly = models.anomaly_scores(model["anomaly"], X)
    segment = models.segment_ids(model["segments"], X)
    return {
        "engagement": engagement, "churn": churn, "churn_flag": churn >= settings["churn"]["threshold"],
        "ltv_p10": p10, "ltv_p50": p50, "ltv_p90": p90,
        **{f"content_interest_{i + 1}": classes[top_content[:, i]] for i in range(3)},
        "content_interest_1_probability": top_content_p[:, 0],
        "anomaly": anomaly,
        "anomalous": anomaly >= settings["anomaly"]["threshold"],  # fitted in training: the same in every shard
        "segment": segment, "segment_name": np.array(settings["segments"]["personas"], dtype=object)[segment],
    }


def _predictions(frame: pl.DataFrame, scores: dict, reasons: dict, model_version: str) -> pl.DataFrame:
    return pl.DataFrame({
        ID_COLUMN: frame[ID_COLUMN],
        "predicted_engagement_score": scores["engagement"].astype(np.float64),
        "churn_probability": scores["churn"].astype(np.float64),
        "churn_flag": scores["churn_flag"],
        **{f"{name}_usd": scores[name].astype(np.float64) for name in ("ltv_p10", "ltv_p50", "ltv_p90")},
        **{f"content_interest_{i}": scores[f"content_interest_{i}"].tolist() for i in (1, 2, 3)},
        "content_interest_1_probability": scores["content_interest_1_probability"].astype(np.float64),
        "anomaly_score": scores["anomaly"].astype(np.float64),
        "anomaly_flag": scores["anomalous"],
        "segment_id": scores["segment"].astype(np.int64),
        "segment_name": scores["segment_name"].tolist(),
        **{f"{prefix}{name}": values for prefix, found in reasons.items() for name, values in found.items()},
        "model_version": model_version,
        "scored_at": datetime.now(UTC).replace(microsecond=0),
    })


def _summary(config: InferConfig, rows: int, scores: dict, settings: dict, scenarios: list, threads: int,
             timings: dict) -> dict:
    """Sums and counts, so shards add up (engagement.shards.merge_inference)."""
    engagement = scores["engagement"]
    return {
        "shard": (config.shard or {}).get("shard"),
        "rows_scored": rows,
        "model_version": config.model_version,
        "predictions_uri": config.predictions_uri,
        "engagement": {"sum": float(engagement.sum(dtype=np.float64)), "min": float(engagement.min()),
                       "max": float(engagement.max()), "histogram": engagement_histogram(engagement)},
        "churn_flagged": int(scores["churn_flag"].sum()),
        "anomalies_flagged": int(scores["anomalous"].sum()),
        "anomaly_threshold": settings["anomaly"]["threshold"],
        "segments": {name: int(count) for name, count in zip(*np.unique(scores["segment_name"], return_counts=True))},
        "what_if": scenarios,
        "threads": threads,
        "seconds": timings,
    }
