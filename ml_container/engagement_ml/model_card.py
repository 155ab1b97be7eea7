"""The model card: markdown plus plots, written per training run from that run's own numbers."""

import io
from datetime import UTC, datetime

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from engagement_ml import storage  # noqa: E402
from engagement_ml.features import AGE_BAND_LABELS  # noqa: E402


def write(folder: str, summary: dict, *, fitted, X_test, test_frame, feature_names, engagement_predicted,
          churn_probability, sample_contributions, sample, threads) -> str:
    plots = {
        "importance.png": _importance(summary["explanations"]["global_importance_engagement"]),
        "shap_summary.png": _shap_summary(sample_contributions, sample, feature_names),
        "calibration.png": _calibration(summary["metrics"]["churn"]["calibration"]["curve"]),
        "residuals.png": _residuals(test_frame["engagement_score"].to_numpy(), engagement_predicted),
        "fairness.png": _fairness(summary["fairness"]),
    }
    for name, png in plots.items():
        storage.write_bytes(storage.join(folder, name), png)
    uri = storage.join(folder, "model_card.md")
    storage.write_bytes(uri, render(summary).encode())
    return uri


def render(summary: dict) -> str:
    """The model card as markdown, a section at a time, from the training summary alone."""
    sections = (_intended_use_section, _data_section, _performance_section, _fairness_section,
                _explanations_section, _gate_plots_and_limits_section)
    return "\n".join(line for section in sections for line in section(summary))


def _intended_use_section(summary: dict) -> list[str]:
    return [
        f"# Model card — customer engagement platform, version `{summary['model_version']}`",
        "",
        f"Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by the training task from this run's own measurements.",
        f"Quality gate: **{'PASSED' if summary['passed'] else 'FAILED'}**.",
        "",
        "## Intended use",
        "",
        "Ranking and triage for a hybrid dating / social / freelance app: who is engaged, who may churn in",
        "30 days, what a customer may be worth, what content they lean to, which accounts look automated,",
        "and which persona they resemble. Outputs support retention, marketing and trust-and-safety teams;",
        "a person reviews any action that affects an individual account (the QA table exists for that).",
        "",
        "Not for: credit, employment, housing or insurance decisions; any use that treats a protected",
        "attribute as a reason; automated account suspension without human review.",
        "",
    ]


def _data_section(summary: dict) -> list[str]:
    fairness = summary["fairness"]
    return [
        "## Data",
        "",
        f"- Training rows: {summary['data']['training_rows']:,} ({summary['data']['fit_rows']:,} fit, "
        f"{summary['data']['validation_rows']:,} validation for early stopping and the churn threshold)"
        f"{_sampled(summary['data'])}; "
        f"test rows: {summary['data']['test_rows']:,} (never seen in training).",
        f"- Features: {summary['feature_count']} engineered from the schema contract. Gender is never an input; "
        "age enters only as a band (18-24 … 55+); location only as a census region; targets and PII never.",
        f"- Proxy check: features with |r| > {fairness['proxies']['threshold']} to a protected attribute are "
        f"dropped. Dropped this run: {', '.join(summary['dropped_proxies']) or 'none'}.",
        "",
    ]


def _performance_section(summary: dict) -> list[str]:
    m, ceilings = summary["metrics"], summary.get("ceilings") or {}

    def ceiling(key: str) -> str:
        return f"{ceilings[key]:.3f}" if key in ceilings else "n/a"

    return [
        "## Performance (test split)",
        "",
        "| model | metric | value | best achievable on this data* |",
        "|---|---|---|---|",
        f"| engagement (XGBoost regression) | R² | {m['engagement']['r2']:.4f} | {ceiling('engagement_r2_ceiling')} |",
        f"| | RMSE / MAE | {m['engagement']['rmse']:.4f} / {m['engagement']['mae']:.4f} | |",
        f"| | MAPE (rows with score ≥ 0.05) | {m['engagement']['mape_pct']:.1f}% | |",
        f"| churn (XGBoost classifier) | ROC-AUC | {m['churn']['roc_auc']:.4f} | {ceiling('churn_roc_auc_ceiling')} |",
        f"| | PR-AUC | {m['churn']['pr_auc']:.4f} | |",
        f"| | recall / precision at threshold {m['churn']['threshold']:.3f} | "
        f"{m['churn']['recall_at_threshold']:.3f} / {m['churn']['precision_at_threshold']:.3f} | |",
        f"| | Brier / ECE | {m['churn']['calibration']['brier']:.4f} / "
        f"{m['churn']['calibration']['expected_calibration_error']:.4f} | |",
        f"| lifetime value (quantile XGBoost) | p10–p90 coverage | {m['ltv']['p10_p90_coverage']:.3f} | "
        f"{ceiling('ltv_p10_p90_oracle_coverage')} |",
        f"| | p50 R² (log scale) | {m['ltv']['p50_log_r2']:.4f} | {ceiling('ltv_log_r2_ceiling')} |",
        f"| content interest (multi-class) | top-1 / top-3 accuracy | {m['content']['top1_accuracy']:.3f} / "
        f"{m['content']['top3_accuracy']:.3f} | {ceiling('content_top1_accuracy_ceiling')} / "
        f"{ceiling('content_top3_accuracy_ceiling')} |",
        f"| anomaly (Isolation Forest) | precision@100 vs injected bots | "
        f"{m['anomaly'].get('precision_at_100', 'no labels')} | |",
        f"| segments (K-Means) | clusters (silhouette) | {m['segments']['clusters']} "
        f"({m['segments']['silhouette_by_k'][str(m['segments']['clusters'])]}) | |",
        "",
        "*The generator's manifest: the score of the true data-generating function itself on the generated",
        "rows (n/a when the data did not come from the generator).",
        "",
        "Segments: " + ", ".join(f"{s['persona']} ({s['share']:.0%})" for s in m["segments"]["segments"]) + ".",
        "",
    ]


def _fairness_section(summary: dict) -> list[str]:
    fairness = summary["fairness"]
    lines = [
        "## Fairness (test split)",
        "",
        "Thresholds: " + ", ".join(f"{k} {v}" for k, v in fairness["thresholds"].items()) + ".",
        "",
        "A check fails only when the 95% confidence bound crosses the threshold (bounds in brackets).",
        "",
        "| outcome | attribute | four-fifths ratio [upper bound] | parity difference [lower bound] | passed |",
        "|---|---|---|---|---|",
    ]
    for family, label in (("engagement_high_prediction", "predicted high engagement"),
                          ("churn_flagged", "flagged as churn risk")):
        for attribute, result in fairness[family].items():
            if result["four_fifths_ratio"] is None:
                lines.append(f"| {label} | {attribute} | – | – | not judged: {result['note']} |")
                continue
            lines.append(f"| {label} | {attribute} | {result['four_fifths_ratio']:.3f} "
                         f"[{result['four_fifths_ratio_upper_bound']:.3f}] | "
                         f"{result['demographic_parity_difference']:.3f} "
                         f"[{result['demographic_parity_difference_lower_bound']:.3f}] | "
                         f"{'yes' if result['passed'] else 'NO'} |")
    lines += ["", "| churn equalized odds | TPR gap | FPR gap | larger gap, lower bound | passed |",
              "|---|---|---|---|---|"]
    for attribute, result in fairness["churn_equalized_odds"].items():
        if result["equalized_odds_difference"] is None:
            lines.append(f"| {attribute} | – | – | – | not judged: {result['note']} |")
        else:
            lines.append(f"| {attribute} | {result['true_positive_rate_difference']:.3f} | "
                         f"{result['false_positive_rate_difference']:.3f} | "
                         f"{result['equalized_odds_difference_lower_bound']:.3f} | "
                         f"{'yes' if result['passed'] else 'NO'} |")
    lines += [
        "",
        "Mean predicted engagement by group: "
        + "; ".join(f"{attribute}: " + ", ".join(f"{g} {v:.3f}" for g, v in groups.items())
                    for attribute, groups in fairness["engagement_mean_score"].items()) + ".",
        "",
    ]
    return lines


def _explanations_section(summary: dict) -> list[str]:
    explanations = summary["explanations"]
    lines = [
        "## Explanations",
        "",
        "Every scored customer gets five reasons (feature, value, signed contribution) for the engagement",
        "score and five for the churn probability. They are XGBoost's approximate contributions (Saabas);",
        "exact TreeSHAP on every row would take minutes. Agreement with exact TreeSHAP, measured this run:",
        "",
        "| model | sample | top-5 overlap | same top reason | same sign |",
        "|---|---|---|---|---|",
    ]
    for name in ("engagement", "churn"):
        e = explanations[name]
        lines.append(f"| {name} | {e['sample_rows']:,} rows | {e['top5_overlap']:.3f} | {e['top1_agreement']:.3f} | "
                     f"{e['sign_agreement_on_exact_top']:.3f} |")
    lines += [
        "",
        "Strongest drivers of predicted engagement (mean |contribution|): "
        + ", ".join(f"`{g['feature']}`" for g in explanations["global_importance_engagement"][:8]) + ".",
        "",
    ]
    return lines


def _gate_plots_and_limits_section(summary: dict) -> list[str]:
    return [
        "## Quality gate",
        "",
        "| check | value | threshold | passed |",
        "|---|---|---|---|",
        *(f"| {c['name']} | {c['value']} | {c['threshold']} | {'yes' if c['passed'] else 'NO'} |"
          for c in summary["checks"]),
        "",
        "## Plots",
        "",
        "![Feature importance](importance.png)",
        "![Contribution summary](shap_summary.png)",
        "![Churn calibration](calibration.png)",
        "![Engagement residuals](residuals.png)",
        "![Fairness by group](fairness.png)",
        "",
        "## Limitations and ethical considerations",
        "",
        "- Trained on synthetic data with known structure; on real data, expect lower scores and re-check",
        "  every fairness figure before use.",
        "- Fairness is measured for gender and age band only; other protected classes are not in the data and",
        "  cannot be audited here. Location is coarsened to region but remains a possible proxy.",
        "- Churn flags favour recall (threshold chosen for ≥ 80% recall on validation): many flagged customers",
        "  would not have churned. Retention offers, not penalties, are the intended response.",
        "- Anomaly scores rank accounts for human review; they are not proof of fraud.",
        "",
        "## Update history",
        "",
        f"- `{summary['model_version']}`: trained in {summary['seconds']['training']:.1f} s on {summary['threads']} threads.",
        "",
    ]


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def _importance(importance: list[dict]) -> bytes:
    figure, axis = plt.subplots(figsize=(7, 5))
    top = importance[:15][::-1]
    axis.barh([t["feature"] for t in top], [t["mean_abs_contribution"] for t in top], color="#3a6ea5")
    axis.set_xlabel("mean |contribution| to predicted engagement")
    axis.set_title("Engagement: global feature importance")
    return _png(figure)


def _shap_summary(contrib: np.ndarray, X: np.ndarray, names: list[str]) -> bytes:
    order = np.argsort(-np.abs(contrib).mean(axis=0))[:12][::-1]
    figure, axis = plt.subplots(figsize=(7, 5.5))
    rng = np.random.default_rng(0)
    for row, feature in enumerate(order):
        values = X[:, feature]
        finite = np.nan_to_num(values, nan=np.nanmedian(values) if np.isfinite(values).any() else 0)
        rank = np.argsort(np.argsort(finite)) / max(len(finite) - 1, 1)
        axis.scatter(contrib[:, feature], row + rng.uniform(-0.3, 0.3, len(values)), c=rank, cmap="coolwarm",
                     s=4, alpha=0.6)
    axis.set_yticks(range(len(order)), [names[i] for i in order])
    axis.axvline(0, color="grey", linewidth=0.8)
    axis.set_xlabel("contribution to predicted engagement (colour: feature value, low → high)")
    axis.set_title("Engagement: per-customer contributions (test sample)")
    return _png(figure)


def _calibration(curve: list[dict]) -> bytes:
    figure, axis = plt.subplots(figsize=(5, 5))
    axis.plot([0, 1], [0, 1], "--", color="grey", label="perfect")
    axis.plot([c["mean_predicted"] for c in curve], [c["observed_rate"] for c in curve], "o-", label="churn model")
    axis.set_xlabel("mean predicted probability")
    axis.set_ylabel("observed churn rate")
    axis.set_title("Churn calibration (test split)")
    axis.legend()
    return _png(figure)


def _residuals(actual: np.ndarray, predicted: np.ndarray) -> bytes:
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.hexbin(actual, predicted, gridsize=40, cmap="Blues", mincnt=1)
    left.plot([0, 1], [0, 1], "--", color="grey")
    left.set_xlabel("actual engagement")
    left.set_ylabel("predicted")
    right.hist(predicted - actual, bins=60, color="#3a6ea5")
    right.set_xlabel("residual (predicted - actual)")
    figure.suptitle("Engagement: predicted vs actual (test split)")
    return _png(figure)


def _fairness(fairness: dict) -> bytes:
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    for axis, (family, title) in zip(axes, (("engagement_high_prediction", "Predicted high engagement"),
                                            ("churn_flagged", "Flagged as churn risk"))):
        labels, rates = [], []
        for attribute in ("gender", "age_band"):
            groups = fairness[family][attribute]["groups"]
            ordered = AGE_BAND_LABELS if attribute == "age_band" else sorted(groups)
            for group in ordered:
                if group in groups:
                    labels.append(f"{attribute}={group}")
                    rates.append(groups[group]["selection_rate"])
        axis.bar(range(len(rates)), rates, color="#3a6ea5")
        axis.set_xticks(range(len(rates)), labels, rotation=45, ha="right")
        axis.set_ylabel("share of group")
        axis.set_title(title)
    return _png(figure)


def _sampled(data: dict) -> str:
    available = data.get("training_rows_available", data["training_rows"])
    return f", a fixed-seed sample of the {available:,} in the split" if available > data["training_rows"] else ""
