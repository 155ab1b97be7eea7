"""ML benchmark: python bench/ml.py --rows N [N ...] [--model-card DIR] [--max-training-rows K] [--docs]

Generates N customers, splits them 80/20 by a stable hash of customer_id, trains all six
models, then scores everyone with top-5 reasons, for each size. Prints each size's figures, then
one JSON line of them (rows, train_seconds_total, score_and_explain_seconds, quality vs the generator's
ceilings, explanation agreement, peak_rss_mb).
"""

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from datagen.generator import GeneratorConfig
from datagen.split import split_for_training
from datagen.writer import write_dataset
from engagement_ml.config import InferConfig, TrainConfig, available_cpus
from engagement_ml.infer import infer
from engagement_ml.train import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000], help="one size or more (default 100000)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--model-card", type=Path, help="also keep the (first size's) model card and plots here")
    parser.add_argument("--max-training-rows", type=int, default=TrainConfig.max_training_rows,
                        help="fit on at most this many training rows (0 = all; default as the task's)")
    parser.add_argument("--docs", action="store_true", help="write the table to docs/benchmarks.md")
    args = parser.parse_args()
    by_rows = {}
    for number, rows in enumerate(args.rows):
        by_rows[rows] = measure(rows, args.seed, args.max_training_rows, args.model_card if number == 0 else None)
        print_figures(by_rows[rows])
        print(json.dumps(by_rows[rows]), flush=True)
    if args.docs:
        from report import record

        sample = "" if args.max_training_rows == TrainConfig.max_training_rows else \
            f" --max-training-rows {args.max_training_rows}"
        record("ml" + sample, "python bench/ml.py " + " ".join(sys.argv[1:]), docs_table(by_rows))


def measure(rows: int, seed: int, max_training_rows: int, model_card: Path | None) -> dict:
    """Generate, split, train all six models and score everyone with reasons: the figures."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print(f"generating {rows:,} customers…", file=sys.stderr)
        manifest = write_dataset(GeneratorConfig(rows=rows, seed=seed), work, progress=None)
        paths = split_for_training(work / "customers.parquet", work / "split")
        print("training…", file=sys.stderr)
        started = time.perf_counter()
        summary = train(TrainConfig(
            training_data_uri=str(paths["training"]), test_data_uri=str(paths["test"]),
            model_registry_uri=str(work / "models"), model_version="bench",
            model_card_uri=str(model_card or work / "card"),
            anomaly_labels_uri=str(work / "anomalous_ids.txt"), generator_manifest_uri=str(work / "manifest.json"),
            max_training_rows=max_training_rows,
        ))
        train_seconds = time.perf_counter() - started
        print("scoring…", file=sys.stderr)
        started = time.perf_counter()
        scored = infer(InferConfig(inference_data_uri=str(paths["inference"]), model_registry_uri=str(work / "models"),
                                   model_version="bench", predictions_uri=str(work / "predictions.parquet")))
        score_seconds = time.perf_counter() - started
        predictions = pl.read_parquet(work / "predictions.parquet", columns=["customer_id", "anomaly_flag"])
        bots = set((work / "anomalous_ids.txt").read_text().split())
        flagged = predictions.filter(pl.col("anomaly_flag"))["customer_id"].to_list()
        found = sum(c in bots for c in flagged)
    m, ceilings = summary["metrics"], manifest["ceilings"]
    return {
        "rows": rows,
        "cpus": available_cpus(),
        "training_rows": summary["data"]["training_rows"],
        "train_seconds_total": round(train_seconds, 2),
        "train_seconds_by_model": {name: summary["seconds"][f"fit_{name}"] for name in m},
        "score_and_explain_seconds": round(score_seconds, 2),
        "inference_rows_per_second": round(rows / scored["seconds"]["score"]),
        "explanation_rows_per_second": round(2 * rows / scored["seconds"]["explain"]),
        "engagement_r2": m["engagement"]["r2"],
        "engagement_r2_ceiling": ceilings["engagement_r2_ceiling"],
        "churn_roc_auc": m["churn"]["roc_auc"],
        "churn_roc_auc_ceiling": ceilings["churn_roc_auc_ceiling"],
        "churn_recall_at_threshold": m["churn"]["recall_at_threshold"],
        "ltv_p10_p90_coverage": m["ltv"]["p10_p90_coverage"],
        "content_top3_accuracy": m["content"]["top3_accuracy"],
        "content_top3_accuracy_ceiling": ceilings["content_top3_accuracy_ceiling"],
        "anomalies_flagged": len(flagged),
        "anomaly_flag_precision": round(found / max(len(flagged), 1), 4),
        "anomaly_flag_recall": round(found / max(len(bots), 1), 4),
        "explanation_top5_overlap_vs_exact": summary["explanations"]["engagement"]["top5_overlap"],
        "churn_explanation_top5_overlap_vs_exact": summary["explanations"]["churn"]["top5_overlap"],
        "quality_gate_passed": summary["passed"],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def print_figures(figures: dict) -> None:
    print(f"rows {figures['rows']:,} on {figures['cpus']} CPUs")
    print(f"training, all six models, on {figures['training_rows']:,} rows: {figures['train_seconds_total']} s  "
          f"{figures['train_seconds_by_model']}")
    print(f"scoring + top-5 reasons for everyone: {figures['score_and_explain_seconds']} s "
          f"({figures['inference_rows_per_second']:,} rows/s scoring, "
          f"{figures['explanation_rows_per_second']:,} rows/s explanations)")
    print(f"engagement R² {figures['engagement_r2']} (ceiling {figures['engagement_r2_ceiling']}); "
          f"churn ROC-AUC {figures['churn_roc_auc']} (ceiling {figures['churn_roc_auc_ceiling']}), "
          f"recall {figures['churn_recall_at_threshold']}; LTV p10-p90 coverage {figures['ltv_p10_p90_coverage']}")
    print(f"anomaly flag: {figures['anomalies_flagged']:,} flagged, precision {figures['anomaly_flag_precision']}, "
          f"recall {figures['anomaly_flag_recall']}; explanation top-5 overlap with exact "
          f"SHAP {figures['explanation_top5_overlap_vs_exact']}; peak RSS {figures['peak_rss_mb']} MB")


def docs_table(by_rows: dict[int, dict]) -> str:
    """One column per size: times, quality against the generator's ceilings, explanations, memory."""
    from report import table

    def row(label: str, cell) -> list:
        return [label, *(cell(by_rows[rows]) for rows in sorted(by_rows))]

    def per_model(f: dict) -> str:
        return " / ".join(f"{seconds:.1f}" for seconds in f["train_seconds_by_model"].values())

    first = next(iter(by_rows.values()))
    return table(["figure", *(f"{rows:,} customers" for rows in sorted(by_rows))], [
        row("training rows (the sample the models fit on)", lambda f: f"{f['training_rows']:,}"),
        row("training, all six models (s)", lambda f: f["train_seconds_total"]),
        row(" … " + " / ".join(first["train_seconds_by_model"]) + " (s)", per_model),
        row("scoring + top-5 reasons (engagement, churn) for everyone (s)", lambda f: f["score_and_explain_seconds"]),
        row("engagement R² (test) vs the generator's ceiling",
            lambda f: f"{f['engagement_r2']:.3f} vs {f['engagement_r2_ceiling']:.3f}"),
        row("churn ROC-AUC (test) vs ceiling; recall at the chosen threshold",
            lambda f: f"{f['churn_roc_auc']:.3f} vs {f['churn_roc_auc_ceiling']:.3f}; "
                      f"{f['churn_recall_at_threshold']:.3f}"),
        row("LTV p10–p90 coverage", lambda f: f"{f['ltv_p10_p90_coverage']:.3f}"),
        row("content top-3 accuracy vs ceiling",
            lambda f: f"{f['content_top3_accuracy']:.3f} vs {f['content_top3_accuracy_ceiling']:.3f}"),
        row("anomaly flag: flagged; precision, recall vs injected bots",
            lambda f: f"{f['anomalies_flagged']:,}; {f['anomaly_flag_precision']:.3f}, {f['anomaly_flag_recall']:.3f}"),
        row("approximate vs exact SHAP, top-5 overlap (engagement / churn)",
            lambda f: f"{f['explanation_top5_overlap_vs_exact']:.3f} / "
                      f"{f['churn_explanation_top5_overlap_vs_exact']:.3f}"),
        row("quality gate", lambda f: "passed" if f["quality_gate_passed"] else "failed"),
        row("peak RSS (MB, the whole benchmark so far)", lambda f: f"{f['peak_rss_mb']:,}"),
    ])


if __name__ == "__main__":
    main()
