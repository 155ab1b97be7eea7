"""Training: features, six models, fairness, explanation agreement, registry, model card.

Returns (and writes) one JSON document for the state machine's quality gate: `passed`, every
check with its value and threshold, and where the models went.
"""

import time

import numpy as np
import polars as pl

import engagement_ml.models as models
from engagement.schema import CONTENT_CATEGORIES, ID_COLUMN
from engagement_ml import explain, fairness, model_card, registry, storage
from engagement_ml.config import TrainConfig, available_cpus
from engagement_ml.features import (
    AGE_BAND_LABELS,
    NUMERIC,
    age_band,
    build_features,
    candidate_features,
    fit_feature_state,
)

VALIDATION_SHARE = 0.1
EXPLANATION_SAMPLE = 2_000


def train(config: TrainConfig) -> dict:
    started = time.perf_counter()
    threads = config.threads or available_cpus()
    timings: dict[str, float] = {}

    def timed(name: str, work):
        t = time.perf_counter()
        result = work()
        timings[name] = round(time.perf_counter() - t, 3)
        return result

    # At most the samples are read into memory, whatever the run's size.
    train_frame, available_rows = timed("load_training", lambda: storage.read_parquet_sample(
        config.training_data_uri, config.max_training_rows))
    test_frame, _ = timed("load_test", lambda: storage.read_parquet_sample(config.test_data_uri, config.max_test_rows))
    _require_rows(train_frame, "training", config.training_data_uri)
    _require_rows(test_frame, "test", config.test_data_uri)

    # Features: proxies of protected attributes are found on the training data and dropped.
    initial_state = fit_feature_state(train_frame)
    proxies = fairness.detect_proxies(
        candidate_features(train_frame, initial_state),
        protected={"gender": train_frame["gender"].to_numpy(), "age": train_frame["age"].to_numpy().astype(float)},
        threshold=config.fairness.max_proxy_correlation,
        exempt={"age": {"age_band"}},  # the sanctioned, coarse encoding of age
    )
    state = fit_feature_state(train_frame, proxies["dropped"])
    X_all = timed("features", lambda: build_features(train_frame, state))
    X_test = build_features(test_frame, state)
    fit_rows, valid_rows = _validation_split(len(train_frame))
    X, X_valid = X_all[fit_rows], X_all[valid_rows]

    def target(frame: pl.DataFrame, name: str) -> np.ndarray:
        return frame[name].to_numpy()

    def split(name: str, transform=lambda v: v):
        values = transform(target(train_frame, name))
        return values[fit_rows], values[valid_rows], transform(target(test_frame, name))

    category_index = {c: i for i, c in enumerate(CONTENT_CATEGORIES)}

    def categories(values):
        return np.array([category_index[v] for v in values])

    fitted: dict[str, models.Fitted] = {}
    y, yv, yt = split("engagement_score")
    fitted["engagement"] = models.fit_engagement(X, y, X_valid, yv, X_test, yt, threads)
    y, yv, yt = split("churn_30_day", lambda v: v.astype(bool))
    fitted["churn"] = models.fit_churn(X, y, X_valid, yv, X_test, yt, threads)
    y, yv, yt = split("lifetime_value_usd")
    fitted["ltv"] = models.fit_ltv(X, y, X_valid, yv, X_test, yt, threads)
    y, yv, yt = split("content_category_primary", categories)
    fitted["content"] = models.fit_content(X, y, X_valid, yv, X_test, yt, threads)
    behavioral = [i for i, name in enumerate(state.feature_names) if name in NUMERIC]
    anomalous_test = _anomaly_labels(config.anomaly_labels_uri, test_frame)
    fitted["anomaly"] = models.fit_anomaly(X_all, X_test, behavioral, threads, anomalous_test)
    fitted["segments"] = models.fit_segments(X_all, state.feature_names, threads)
    for name, model in fitted.items():
        timings[f"fit_{name}"] = round(model.seconds, 3)

    # Fairness on the test split, by gender and by age band.
    groups = {"gender": test_frame["gender"].to_numpy().astype(str),
              "age_band": np.array(AGE_BAND_LABELS)[age_band(test_frame["age"].to_numpy())]}
    engagement_predicted = models.engagement_scores(fitted["engagement"].model, X_test, threads)
    high_engagement = engagement_predicted >= float(np.median(target(train_frame, "engagement_score")))
    churn_probability = models.predict(fitted["churn"].model, X_test, threads)
    churn_flagged = churn_probability >= fitted["churn"].settings["threshold"]
    churn_actual = target(test_frame, "churn_30_day").astype(bool)
    fairness_report = {
        "thresholds": fairness.thresholds_dict(config.fairness),
        "proxies": proxies,
        "engagement_high_prediction": {
            attribute: fairness.disparity(high_engagement, values, config.fairness)
            for attribute, values in groups.items()
        },
        "engagement_mean_score": {
            attribute: {group: round(float(engagement_predicted[values == group].mean()), 4)
                        for group in sorted(set(values.tolist()))}
            for attribute, values in groups.items()
        },
        "churn_flagged": {
            attribute: fairness.disparity(churn_flagged, values, config.fairness)
            for attribute, values in groups.items()
        },
        "churn_equalized_odds": {
            attribute: fairness.equalized_odds(churn_flagged, churn_actual, values, config.fairness)
            for attribute, values in groups.items()
        },
    }

    # Explanations: agreement with exact SHAP on a sample of the test split.
    sample = X_test[: min(EXPLANATION_SAMPLE, len(X_test))]
    explanation_report = timed("explanation_agreement", lambda: {
        name: explain.agreement_with_exact(fitted[name].model, sample, threads) for name in ("engagement", "churn")
    })
    contributions = explain.contributions(fitted["engagement"].model, sample, threads)
    global_summary = explain.global_importance(contributions, state.feature_names)

    ceilings = storage.read_json(config.generator_manifest_uri)["ceilings"] if config.generator_manifest_uri else None
    checks = _quality_checks(fitted, fairness_report, config)
    data = {"training_uri": config.training_data_uri, "test_uri": config.test_data_uri,
            "training_rows": len(train_frame), "training_rows_available": available_rows,
            "fit_rows": len(fit_rows), "validation_rows": len(valid_rows), "test_rows": len(test_frame)}
    locations = {}
    for name, model in fitted.items():
        locations[name] = timed(f"save_{name}", lambda model=model, name=name: registry.save(
            config.model_registry_uri, config.model_version, model, feature_state=state, data=data,
            fairness=fairness_report if name in ("engagement", "churn") else None,
            explanations=explanation_report.get(name)))
    summary = {
        "passed": all(check["passed"] for check in checks),
        "model_version": config.model_version,
        "checks": checks,
        "metrics": {name: model.metrics for name, model in fitted.items()},
        "ceilings": ceilings,
        "fairness": fairness_report,
        "explanations": {**explanation_report, "global_importance_engagement": global_summary},
        "feature_count": len(state.feature_names),
        "dropped_proxies": state.dropped_proxies,
        "data": data,
        "models": locations,
        "threads": threads,
        "seconds": timings,
    }
    timings["training"] = round(time.perf_counter() - started, 3)
    if config.model_card_uri:
        summary["model_card"] = timed("model_card", lambda: model_card.write(
            config.model_card_uri, summary, fitted=fitted, X_test=X_test, test_frame=test_frame,
            feature_names=state.feature_names, engagement_predicted=engagement_predicted,
            churn_probability=churn_probability, sample_contributions=contributions, sample=sample, threads=threads))
    timings["total"] = round(time.perf_counter() - started, 3)
    if config.output_uri:
        storage.write_json(config.output_uri, summary)
    return summary


def _require_rows(frame: pl.DataFrame, what: str, uri: str) -> None:
    if frame.height < 100:
        raise ValueError(f"{what} data at {uri} has {frame.height} rows; at least 100 are needed to train")


def _validation_split(rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Early stopping and the churn threshold use this slice of training, never the test split."""
    order = np.random.default_rng(0).permutation(rows)
    cut = int(rows * VALIDATION_SHARE)
    return np.sort(order[cut:]), np.sort(order[:cut])


def _anomaly_labels(uri: str | None, frame: pl.DataFrame) -> np.ndarray | None:
    if not uri:
        return None
    ids = set(storage.read_bytes(uri).decode().split())
    return np.isin(frame[ID_COLUMN].to_numpy(), list(ids))


def recall_upper_bound(churn_metrics: dict) -> float:
    recall, positives = churn_metrics["recall_at_threshold"], max(churn_metrics["test_positives"], 1)
    return min(1.0, recall + 1.96 * (recall * (1 - recall) / positives) ** 0.5)


def _quality_checks(fitted: dict[str, models.Fitted], fairness_report: dict, config: TrainConfig) -> list[dict]:
    q = config.quality
    metric = lambda name, key: fitted[name].metrics[key]  # noqa: E731
    checks = [
        ("engagement_r2", metric("engagement", "r2"), f">= {q.min_engagement_r2}", metric("engagement", "r2") >= q.min_engagement_r2),
        ("churn_roc_auc", metric("churn", "roc_auc"), f">= {q.min_churn_roc_auc}", metric("churn", "roc_auc") >= q.min_churn_roc_auc),
        # The threshold was chosen on the validation slice; on a small test split recall moves by
        # chance, so the check fails only when its 95% upper bound is below the minimum.
        ("churn_recall_at_threshold", metric("churn", "recall_at_threshold"),
         f">= {q.min_churn_recall} (95% upper bound {recall_upper_bound(fitted['churn'].metrics):.3f})",
         recall_upper_bound(fitted["churn"].metrics) >= q.min_churn_recall),
        ("ltv_p10_p90_coverage", metric("ltv", "p10_p90_coverage"), f"in [{q.min_ltv_coverage}, {q.max_ltv_coverage}]",
         q.min_ltv_coverage <= metric("ltv", "p10_p90_coverage") <= q.max_ltv_coverage),
        ("content_top3_accuracy", metric("content", "top3_accuracy"), f">= {q.min_content_top3_accuracy}",
         metric("content", "top3_accuracy") >= q.min_content_top3_accuracy),
        ("content_distinct_categories", metric("content", "distinct_categories_recommended"), ">= 3",
         metric("content", "distinct_categories_recommended") >= 3),
    ]
    for family in ("engagement_high_prediction", "churn_flagged", "churn_equalized_odds"):
        for attribute, result in fairness_report[family].items():
            value = result.get("four_fifths_ratio", result.get("equalized_odds_difference"))
            checks.append((f"fairness_{family}_{attribute}", value, "see fairness.thresholds", result["passed"]))
    return [{"name": n, "value": v, "threshold": t, "passed": bool(p)} for n, v, t, p in checks]
