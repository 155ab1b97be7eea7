"""Knowledge-base documents for the assistant: what the data means and what this run found.

Numbers come from the run's own reports (training, inference, ingest and validation); nothing
here is typed in by hand. Each document has a metadata sidecar naming its run, so the assistant
retrieves from the published run only.
"""

import hashlib
import json
from dataclasses import dataclass

from engagement.data_dictionary import render as data_dictionary

METADATA_SUFFIX = ".metadata.json"  # Bedrock's sidecar for an S3 data source's document
DRIVERS_LISTED = 10  # at each end of the importance ranking


@dataclass(frozen=True)
class Index:
    """The knowledge base that ingests the documents, and its data source over them."""

    knowledge_base_id: str
    data_source_id: str


def documents(run_id: str, training: dict, inference: dict, ingest: dict, validation: dict,
              profile: dict) -> dict[str, str]:
    return {
        "data_dictionary.md": data_dictionary(),
        "model_performance.md": _model_performance(run_id, training),
        "engagement_drivers.md": _drivers(run_id, training),
        "run_summary.md": _run_summary(run_id, ingest, validation),
        "what_if.md": _what_if(run_id, inference),
        "feature_statistics.md": _feature_statistics(run_id, validation, profile),
        "predictions_summary.md": _predictions_summary(run_id, inference),
    }


def metadata(run_id: str) -> str:
    return json.dumps({"metadataAttributes": {"run_id": run_id}})


class IngestionJobBusy(RuntimeError):
    """The data source is still syncing (an earlier run's job): the state machine retries the stage
    later (Retry on this error name), so the run neither fails nor leaves the knowledge base stale."""


def start_ingestion(agent, index: Index, run_id: str) -> str:
    """Start the knowledge base's sync of the documents; a retry of the same run starts nothing new.
    Bedrock refuses a job while another of the data source runs (ConflictException)."""
    token = hashlib.sha256(f"{index.data_source_id}/{run_id}".encode()).hexdigest()  # 33-256 characters
    try:
        job = agent.start_ingestion_job(knowledgeBaseId=index.knowledge_base_id, dataSourceId=index.data_source_id,
                                        clientToken=token, description=f"run {run_id}")
    except agent.exceptions.ConflictException as conflict:
        raise IngestionJobBusy(f"data source {index.data_source_id} is still syncing: {conflict}") from None
    return job["ingestionJob"]["ingestionJobId"]


def _model_performance(run_id: str, training: dict) -> str:
    m = training["metrics"]
    lines = [f"# Model performance, run {run_id}", "",
             f"Quality gate: {'passed' if training['passed'] else 'FAILED'}.", "",
             f"- Engagement: R² {m['engagement']['r2']}, RMSE {m['engagement']['rmse']}, MAE {m['engagement']['mae']}.",
             f"- Churn (30 days): ROC-AUC {m['churn']['roc_auc']}, PR-AUC {m['churn']['pr_auc']}, recall "
             f"{m['churn']['recall_at_threshold']} at threshold {m['churn']['threshold']}.",
             f"- Overfitting check: engagement R² {m['engagement']['training_r2']} on the rows the model was fitted "
             "on "
             f"vs {m['engagement']['r2']} on the held-out test split (gap "
             f"{m['engagement']['training_r2'] - m['engagement']['r2']:.4f}); churn ROC-AUC "
             f"{m['churn']['training_roc_auc']} vs {m['churn']['roc_auc']} (gap "
             f"{m['churn']['training_roc_auc'] - m['churn']['roc_auc']:.4f}).",
             f"- Lifetime value: p10-p90 interval covers {m['ltv']['p10_p90_coverage']:.1%} of actual values.",
             f"- Content interest: top-3 accuracy {m['content']['top3_accuracy']}.",
             "- Segments: " + ", ".join(f"{s['persona']} ({s['share']:.0%})" for s in m["segments"]["segments"]) + ".",
             "", "## Fairness checks", ""]
    lines += [f"- {c['name']}: {c['value']} ({'passed' if c['passed'] else 'failed'})"
              for c in training["checks"] if c["name"].startswith("fairness")]
    return "\n".join(lines) + "\n"


def _drivers(run_id: str, training: dict) -> str:
    ranked = list(enumerate(training["explanations"]["global_importance_engagement"], 1))
    lines = [f"# What drives engagement, run {run_id}", "",
             f"Features ranked by their average absolute contribution to predicted engagement ({len(ranked)} model "
             "features in all).", "", "## Most important features", ""]
    lines += [f"{i}. {d['feature']} ({d['mean_abs_contribution']:.4f})" for i, d in ranked[:DRIVERS_LISTED]]
    lines += ["", "## Least important features", ""]
    lines += [f"{i}. {d['feature']} ({d['mean_abs_contribution']:.4f})"
              for i, d in ranked[max(DRIVERS_LISTED, len(ranked) - DRIVERS_LISTED):]]
    return "\n".join(lines) + "\n"


def _run_summary(run_id: str, ingest: dict, validation: dict) -> str:
    drift = validation["drift"]
    shifted = ", ".join(drift.get("shifted", [])) or "none"
    return "\n".join([
        f"# Run {run_id}", "",
        f"- Rows received: {ingest['rows_in']:,}; accepted {ingest['rows_accepted']:,}; quarantined "
        f"{ingest['rows_quarantined']:,} ({', '.join(f'{k}: {v}' for k, v in ingest['quarantined_by_reason'].items()) or 'none'}).",
        f"- Data quality problems: {'; '.join(validation['quality']['problems']) or 'none'}.",
        f"- Drift against run {drift.get('baseline_run') or '(none: first run)'}: features shifted (PSI > 0.25): {shifted}.",
        "",
    ])


def _what_if(run_id: str, inference: dict) -> str:
    lines = [f"# What-if scenarios, run {run_id}", "",
             "Each scenario changes customers' inputs and scores them again with this run's trained models (a model "
             "estimate, not a correlation).", ""]
    for scenario in inference.get("what_if", []):
        lines.append(f"- {scenario['description']}: {scenario['customers_changed']:,} customers changed; mean "
                     f"predicted engagement {scenario['mean_engagement_before']} -> {scenario['mean_engagement_after']} "
                     f"({scenario['engagement_change']:+}); expected churners {scenario['expected_churners_change']:+}; "
                     f"predicted lifetime value (median estimate, summed) {scenario['ltv_p50_change_usd']:+,.2f} USD.")
    return "\n".join(lines) + "\n"


def _feature_statistics(run_id: str, validation: dict, profile: dict) -> str:
    """Per feature: missing values and range (the quality report), deciles or level shares (the
    drift profile): the run's statistics without a query."""
    columns = validation["quality"]["columns"]
    lines = [f"# Feature statistics, run {run_id}", "", f"{profile['rows']:,} customers. Numeric features: missing, "
             "minimum, 10th / 50th / 90th percentile (read from a 1,000-bin histogram), maximum. Categorical: the share of each level.", ""]
    for name, spec in profile["features"].items():
        quality = columns.get(name, {})
        if "levels" in spec:
            shares = ", ".join(f"{level} {share:.1%}" for level, share in sorted(spec["levels"].items(),
                                                                               key=lambda item: -item[1]))
            lines.append(f"- {name}: {quality.get('nulls', 0):,} missing; {shares}.")
        else:
            percentiles = spec["percentiles"]
            deciles = " / ".join("n/a" if percentiles[p] is None else f"{percentiles[p]:.4g}" for p in ("p10", "p50", "p90"))
            lines.append(f"- {name}: {quality.get('nulls', 0):,} missing; min {quality.get('min', 'n/a')}, "
                         f"{deciles}, max {quality.get('max', 'n/a')}.")
    return "\n".join(lines) + "\n"


def _predictions_summary(run_id: str, inference: dict) -> str:
    engagement = inference["engagement_range"]
    segments = ", ".join(f"{name} {count:,}" for name, count in sorted(inference["segments"].items(),
                                                                       key=lambda item: -item[1]))
    return "\n".join([
        f"# Predictions summary, run {run_id}", "",
        f"- Customers scored: {inference['rows_scored']:,}.",
        f"- Predicted engagement: mean {engagement['mean']}, median {engagement['median']}, range "
        f"{engagement['min']} to {engagement['max']}.",
        f"- Flagged as likely to churn within 30 days: {inference['churn_flagged']:,}.",
        f"- Flagged as anomalous: {inference['anomalies_flagged']:,}.",
        f"- Customers per segment: {segments}.", ""])
