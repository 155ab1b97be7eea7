"""The six models. Each fits on the shared feature matrix, measures itself on the test split,
and serializes to plain files for the registry (XGBoost as UBJSON, scikit-learn as pickle)."""

import io
import pickle
import time
from dataclasses import dataclass, field

import numpy as np
import xgboost as xgb
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.ensemble import IsolationForest
from sklearn.metrics import average_precision_score, log_loss, roc_auc_score, silhouette_score

from engagement.schema import CONTENT_CATEGORIES

MAX_ROUNDS = 1000
EARLY_STOPPING = 30
TREE_PARAMS = {"tree_method": "hist", "max_depth": 4, "eta": 0.1, "min_child_weight": 5, "subsample": 0.9,
               "colsample_bytree": 0.9, "seed": 0}
LTV_QUANTILES = (0.1, 0.5, 0.9)
TARGET_RECALL = 0.80


@dataclass
class Fitted:
    """A trained model plus what the registry and the quality gate need to know about it."""

    name: str
    algorithm: str
    model: object
    params: dict
    metrics: dict
    seconds: float
    settings: dict = field(default_factory=dict)  # fitted values inference needs (thresholds, personas…)


def _booster(params: dict, X, y, X_valid, y_valid, threads: int, **dmatrix) -> xgb.Booster:
    train = xgb.DMatrix(X, label=y, nthread=threads, **dmatrix)
    valid = xgb.DMatrix(X_valid, label=y_valid, nthread=threads)
    booster = xgb.train({**TREE_PARAMS, **params, "nthread": threads}, train, MAX_ROUNDS,
                        evals=[(valid, "valid")], early_stopping_rounds=EARLY_STOPPING, verbose_eval=False)
    # Keep only the trees up to the best validation round.
    return booster[: booster.best_iteration + 1]


def predict(booster: xgb.Booster, X: np.ndarray, threads: int, **kwargs) -> np.ndarray:
    booster.set_param({"nthread": threads})
    return booster.predict(xgb.DMatrix(X, nthread=threads), **kwargs)


# --- engagement -------------------------------------------------------------------------------

def fit_engagement(X, y, X_valid, y_valid, X_test, y_test, threads: int) -> Fitted:
    started = time.perf_counter()
    params = {"objective": "reg:squarederror", "eval_metric": "rmse"}
    booster = _booster(params, X, y, X_valid, y_valid, threads)
    predicted = engagement_scores(booster, X_test, threads)
    fitted_rows = regression_metrics(y, engagement_scores(booster, X, threads))  # against the test's: overfitting
    metrics = {**regression_metrics(y_test, predicted), "training_r2": fitted_rows["r2"],
               "training_rmse": fitted_rows["rmse"]}
    return Fitted("engagement", "XGBoost regression", booster, {**TREE_PARAMS, **params, "rounds": booster.num_boosted_rounds()},
                  metrics, time.perf_counter() - started)


def engagement_scores(booster: xgb.Booster, X, threads: int) -> np.ndarray:
    return np.clip(predict(booster, X, threads), 0, 1)


def regression_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict:
    errors = predicted - actual
    sst = ((actual - actual.mean()) ** 2).sum()
    meaningful = actual >= 0.05  # MAPE explodes near zero; measured where the score is >= 0.05
    return {
        "rmse": round(float(np.sqrt((errors**2).mean())), 5),
        "mae": round(float(np.abs(errors).mean()), 5),
        "r2": round(float(1 - (errors**2).sum() / sst), 5),
        "mape_pct": round(float(100 * np.abs(errors[meaningful] / actual[meaningful]).mean()), 3),
        "mape_rows": int(meaningful.sum()),
    }


# --- churn ------------------------------------------------------------------------------------

def fit_churn(X, y, X_valid, y_valid, X_test, y_test, threads: int) -> Fitted:
    started = time.perf_counter()
    params = {"objective": "binary:logistic", "eval_metric": "logloss"}
    booster = _booster(params, X, y.astype(float), X_valid, y_valid.astype(float), threads)
    # Aim above 80% by the validation slice's sampling error, so that recall on new data stays
    # at or above 80% with about 95% confidence (on 100K customers the margin is under 2 points).
    positives = max(int(y_valid.sum()), 1)
    aim = min(0.95, TARGET_RECALL + 1.96 * (TARGET_RECALL * (1 - TARGET_RECALL) / positives) ** 0.5)
    threshold = threshold_for_recall(y_valid, predict(booster, X_valid, threads), aim)
    probability = predict(booster, X_test, threads)
    flagged = probability >= threshold
    metrics = {
        "roc_auc": round(float(roc_auc_score(y_test, probability)), 5),
        "training_roc_auc": round(float(roc_auc_score(y, predict(booster, X, threads))), 5),
        "pr_auc": round(float(average_precision_score(y_test, probability)), 5),
        "threshold": round(float(threshold), 5),
        "validation_recall_aimed_at": round(aim, 4),
        "recall_at_threshold": round(float(flagged[y_test].mean()), 5),
        "test_positives": int(y_test.sum()),
        "precision_at_threshold": round(float(y_test[flagged].mean()), 5) if flagged.any() else 0.0,
        "flagged_share": round(float(flagged.mean()), 5),
        "calibration": calibration(y_test, probability),
    }
    return Fitted("churn", "XGBoost binary classifier", booster,
                  {**TREE_PARAMS, **params, "rounds": booster.num_boosted_rounds()}, metrics,
                  time.perf_counter() - started, settings={"threshold": float(threshold)})


def threshold_for_recall(actual: np.ndarray, probability: np.ndarray, recall: float) -> float:
    """The highest threshold that still flags at least `recall` of the actual churners
    (chosen on the validation split, so the test recall is an honest estimate)."""
    positives = np.sort(probability[actual.astype(bool)])[::-1]
    needed = int(np.ceil(recall * len(positives)))
    return float(positives[needed - 1])


def calibration(actual: np.ndarray, probability: np.ndarray, bins: int = 10) -> dict:
    edges = np.linspace(0, 1, bins + 1)
    index = np.clip(np.digitize(probability, edges[1:-1]), 0, bins - 1)
    curve, ece = [], 0.0
    for b in range(bins):
        mask = index == b
        if mask.any():
            mean_predicted, observed = float(probability[mask].mean()), float(actual[mask].mean())
            curve.append({"bin": b, "count": int(mask.sum()), "mean_predicted": round(mean_predicted, 4),
                          "observed_rate": round(observed, 4)})
            ece += mask.mean() * abs(mean_predicted - observed)
    return {"brier": round(float(((probability - actual) ** 2).mean()), 5),
            "expected_calibration_error": round(float(ece), 5), "curve": curve}


# --- lifetime value ---------------------------------------------------------------------------

def fit_ltv(X, y, X_valid, y_valid, X_test, y_test, threads: int) -> Fitted:
    """Quantile regression on log(1 + LTV): quantiles survive the monotone transform."""
    started = time.perf_counter()
    params = {"objective": "reg:quantileerror", "quantile_alpha": list(LTV_QUANTILES)}
    booster = _booster(params, X, np.log1p(y), X_valid, np.log1p(y_valid), threads)
    p10, p50, p90 = ltv_quantiles(booster, X_test, threads)
    log_actual, log_p50 = np.log1p(y_test), np.log1p(p50)
    metrics = {
        "p10_p90_coverage": round(float(((y_test >= p10) & (y_test <= p90)).mean()), 5),
        "below_p10_share": round(float((y_test < p10).mean()), 5),
        "above_p90_share": round(float((y_test > p90).mean()), 5),
        "p50_log_r2": round(float(1 - ((log_actual - log_p50) ** 2).sum()
                                  / ((log_actual - log_actual.mean()) ** 2).sum()), 5),
        "p50_mae_usd": round(float(np.abs(p50 - y_test).mean()), 3),
    }
    return Fitted("ltv", "XGBoost quantile regression (p10/p50/p90)", booster,
                  {**TREE_PARAMS, **params, "rounds": booster.num_boosted_rounds()}, metrics,
                  time.perf_counter() - started)


def ltv_quantiles(booster: xgb.Booster, X, threads: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    predicted = np.sort(predict(booster, X, threads), axis=1)  # guard against quantile crossing
    usd = np.maximum(np.expm1(predicted), 0)
    return usd[:, 0], usd[:, 1], usd[:, 2]


# --- content interest -------------------------------------------------------------------------

def fit_content(X, y, X_valid, y_valid, X_test, y_test, threads: int) -> Fitted:
    started = time.perf_counter()
    params = {"objective": "multi:softprob", "num_class": len(CONTENT_CATEGORIES), "eval_metric": "mlogloss",
              "eta": 0.2}
    booster = _booster(params, X, y, X_valid, y_valid, threads)
    probability = predict(booster, X_test, threads)
    ranked = np.argsort(-probability, axis=1)
    metrics = {
        "top1_accuracy": round(float((ranked[:, 0] == y_test).mean()), 5),
        "top3_accuracy": round(float((ranked[:, :3] == y_test[:, None]).any(axis=1).mean()), 5),
        "log_loss": round(float(log_loss(y_test, probability, labels=range(len(CONTENT_CATEGORIES)))), 5),
        "distinct_categories_recommended": int(len(np.unique(ranked[:, :3]))),
    }
    return Fitted("content", "XGBoost multi-class (top-3 categories)", booster,
                  {**TREE_PARAMS, **params, "rounds": booster.num_boosted_rounds()}, metrics,
                  time.perf_counter() - started, settings={"classes": list(CONTENT_CATEGORIES)})


def top_categories(booster: xgb.Booster, X, threads: int, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the k most likely categories (always k distinct ones) and their probabilities."""
    probability = predict(booster, X, threads)
    ranked = np.argsort(-probability, axis=1)[:, :k]
    return ranked, np.take_along_axis(probability, ranked, axis=1)


# --- anomalies --------------------------------------------------------------------------------

ANOMALY_SHARE = 0.01  # flagged as anomalous: about this share of customers


def fit_anomaly(X, X_test, feature_index: list[int], threads: int, anomalous_test: np.ndarray | None) -> Fitted:
    started = time.perf_counter()
    params = {"n_estimators": 200, "max_samples": 4096, "random_state": 0}
    forest = IsolationForest(**params, n_jobs=threads).fit(_anomaly_inputs(X, feature_index))
    model = {"forest": forest, "feature_index": feature_index}
    scores = anomaly_scores(model, X_test)
    # The flag's threshold, fitted here so that every shard of a run flags alike: the score of the
    # top ANOMALY_SHARE of the held-out customers.
    threshold = float(np.quantile(scores, 1 - ANOMALY_SHARE))
    metrics = {"mean_score": round(float(scores.mean()), 5), "p99_score": round(float(np.quantile(scores, 0.99)), 5),
               "threshold": round(threshold, 5), "flagged_share": round(float((scores >= threshold).mean()), 5)}
    if anomalous_test is not None:
        top = np.argsort(-scores)[:100]
        metrics["precision_at_100"] = round(float(anomalous_test[top].mean()), 5)
        metrics["labelled_anomalies"] = int(anomalous_test.sum())
        metrics["labelled_found_in_top_100"] = round(float(anomalous_test[top].sum() / max(anomalous_test.sum(), 1)), 5)
    return Fitted("anomaly", "Isolation Forest", model, params, metrics, time.perf_counter() - started,
                  settings={"threshold": threshold, "share": ANOMALY_SHARE})


def anomaly_scores(model: dict, X: np.ndarray) -> np.ndarray:
    """The Isolation Forest anomaly score 2^(-E[h(x)]/c(n)) in (0, 1]; higher is more anomalous."""
    return -model["forest"].score_samples(_anomaly_inputs(X, model["feature_index"]))


def _anomaly_inputs(X: np.ndarray, index: list[int]) -> np.ndarray:
    """Heavy tails compressed (signed log) so that merely large accounts are not isolated as
    quickly as behaviour that is unusual in many ways at once."""
    values = np.nan_to_num(X[:, index])
    return np.sign(values) * np.log1p(np.abs(values))


# --- segments ---------------------------------------------------------------------------------

SEGMENT_SIGNALS = (
    "avg_daily_logins", "avg_session_duration_min", "num_messages_sent_per_day", "total_connections",
    "transaction_revenue_month", "gig_listings_active", "gig_applications_sent_month", "content_posts_per_week",
    "days_since_last_login", "match_success_rate", "premium_feature_usage_rate", "friend_group_participation_score",
)
# Each persona as weights over standardized cluster centroids; clusters get distinct personas.
PERSONAS = {
    "Power users": {"avg_daily_logins": 1, "avg_session_duration_min": 1, "num_messages_sent_per_day": 0.5,
                    "days_since_last_login": -0.5},
    "Casual browsers": {"avg_daily_logins": -1, "avg_session_duration_min": -0.5, "num_messages_sent_per_day": -0.5,
                        "content_posts_per_week": -0.5},
    "Gig workers": {"transaction_revenue_month": 1, "gig_listings_active": 1, "gig_applications_sent_month": 0.5},
    "Gig seekers": {"gig_applications_sent_month": 1, "gig_listings_active": -0.5},
    "Social butterflies": {"num_messages_sent_per_day": 1, "friend_group_participation_score": 1,
                           "total_connections": 0.5},
    "At-risk": {"days_since_last_login": 1.5, "avg_daily_logins": -0.5},
    "Daters": {"match_success_rate": 1.5, "avg_daily_logins": 0.3},
    "Content creators": {"content_posts_per_week": 1.5, "total_connections": 0.5},
    "Premium explorers": {"premium_feature_usage_rate": 1.5},
}


def fit_segments(X, feature_names: list[str], threads: int) -> Fitted:
    started = time.perf_counter()
    index = [feature_names.index(name) for name in SEGMENT_SIGNALS]
    signals = _segment_signals(X, index)
    mean, std = signals.mean(axis=0), signals.std(axis=0) + 1e-9
    z = (signals - mean) / std
    rng = np.random.default_rng(0)
    sample = z[rng.choice(len(z), size=min(len(z), 20_000), replace=False)]
    score_sample = sample[: min(len(sample), 4_000)]
    silhouettes, fits = {}, {}
    for k in (6, 7, 8):
        fits[k] = KMeans(n_clusters=k, n_init=3, random_state=0).fit(sample)
        silhouettes[k] = float(silhouette_score(score_sample, fits[k].predict(score_sample)))
    best = max(silhouettes, key=silhouettes.get)
    kmeans = fits[best]
    personas = name_segments(kmeans.cluster_centers_)
    sizes = np.bincount(kmeans.predict(z), minlength=best)
    model = {"kmeans": kmeans, "index": index, "mean": mean, "std": std, "personas": personas}
    metrics = {"clusters": best, "silhouette_by_k": {str(k): round(v, 4) for k, v in silhouettes.items()},
               "segments": [{"segment_id": i, "persona": personas[i], "share": round(float(sizes[i] / sizes.sum()), 4),
                             "centroid_z": {s: round(float(c), 3) for s, c in zip(SEGMENT_SIGNALS, kmeans.cluster_centers_[i])}}
                            for i in range(best)]}
    return Fitted("segments", "K-Means on standardized log activity", model,
                  {"k_searched": [6, 7, 8], "n_init": 3, "sample_rows": len(sample)}, metrics,
                  time.perf_counter() - started, settings={"personas": personas})


def name_segments(centroids: np.ndarray) -> list[str]:
    names = list(PERSONAS)
    weights = np.array([[PERSONAS[p].get(s, 0.0) for s in SEGMENT_SIGNALS] for p in names])
    affinity = centroids @ weights.T  # clusters x personas
    rows, columns = linear_sum_assignment(-affinity)
    assigned = dict(zip(rows, columns))
    return [names[assigned[i]] for i in range(len(centroids))]


def segment_ids(model: dict, X: np.ndarray) -> np.ndarray:
    z = (_segment_signals(X, model["index"]) - model["mean"]) / model["std"]
    return model["kmeans"].predict(z)


def _segment_signals(X: np.ndarray, index: list[int]) -> np.ndarray:
    return np.log1p(np.clip(np.nan_to_num(X[:, index]), 0, None))


# --- serialization ----------------------------------------------------------------------------

def to_bytes(model: object) -> tuple[str, bytes]:
    if isinstance(model, xgb.Booster):
        return "model.ubj", bytes(model.save_raw("ubj"))
    return "model.pkl", pickle.dumps(model)


def from_bytes(filename: str, data: bytes) -> object:
    if filename.endswith(".ubj"):
        booster = xgb.Booster()
        booster.load_model(bytearray(data))
        return booster
    return pickle.load(io.BytesIO(data))  # our own registry, written by training
