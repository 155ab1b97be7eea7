"""The best score any model could reach on generated data: the true function's own score."""

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datagen.generator import LTV_LOG_NOISE_SD, P10_Z, Chunk
from engagement.schema import CONTENT_CATEGORIES


def roc_auc(score: np.ndarray, label: np.ndarray) -> float:
    """Mann-Whitney ROC AUC with average ranks for ties."""
    label = label.astype(bool)
    positives, negatives = int(label.sum()), int((~label).sum())
    if positives == 0 or negatives == 0:
        return float("nan")
    _, inverse, counts = np.unique(score, return_inverse=True, return_counts=True)
    average_rank = np.cumsum(counts) - (counts - 1) / 2
    ranks = average_rank[inverse]
    return float((ranks[label].sum() - positives * (positives + 1) / 2) / (positives * negatives))


@dataclass
class _Sums:
    n: int = 0
    total: float = 0.0
    total_sq: float = 0.0
    sse: float = 0.0

    def add(self, actual: np.ndarray, predicted: np.ndarray) -> None:
        self.n += len(actual)
        self.total += float(actual.sum())
        self.total_sq += float((actual**2).sum())
        self.sse += float(((actual - predicted) ** 2).sum())

    def r2(self) -> float:
        sst = self.total_sq - self.total**2 / self.n
        return 1 - self.sse / sst if sst > 0 else float("nan")


@dataclass
class CeilingAccumulator:
    """Streams over chunks; memory grows only by the churn scores kept for the AUC."""

    engagement: _Sums = field(default_factory=_Sums)
    ltv_log: _Sums = field(default_factory=_Sums)
    ltv_covered: int = 0
    content_top1: int = 0
    content_top3: int = 0
    rows: int = 0
    churn_scores: list[np.ndarray] = field(default_factory=list)
    churn_labels: list[np.ndarray] = field(default_factory=list)

    def add(self, chunk: Chunk) -> None:
        table = chunk.table
        self.rows += table.num_rows
        self.engagement.add(table["engagement_score"].to_numpy(), chunk.engagement_oracle)
        log_ltv = np.log(np.maximum(table["lifetime_value_usd"].to_numpy(), 1e-9))
        self.ltv_log.add(log_ltv, chunk.ltv_log_mean)
        half_width = P10_Z * LTV_LOG_NOISE_SD
        self.ltv_covered += int((np.abs(log_ltv - chunk.ltv_log_mean) <= half_width).sum())
        actual = pc.index_in(table["content_category_primary"], value_set=pa.array(CONTENT_CATEGORIES)).to_numpy()
        ranked = np.argsort(-chunk.content_probabilities, axis=1)
        self.content_top1 += int((ranked[:, 0] == actual).sum())
        self.content_top3 += int((ranked[:, :3] == actual[:, None]).any(axis=1).sum())
        self.churn_scores.append(chunk.churn_probability.astype(np.float32))
        self.churn_labels.append(table["churn_30_day"].to_numpy(zero_copy_only=False))

    def result(self) -> dict[str, float]:
        labels = np.concatenate(self.churn_labels)
        return {
            "engagement_r2_ceiling": round(self.engagement.r2(), 4),
            "churn_roc_auc_ceiling": round(roc_auc(np.concatenate(self.churn_scores), labels), 4),
            "churn_rate": round(float(labels.mean()), 4),
            "ltv_log_r2_ceiling": round(self.ltv_log.r2(), 4),
            "ltv_p10_p90_oracle_coverage": round(self.ltv_covered / self.rows, 4),
            "content_top1_accuracy_ceiling": round(self.content_top1 / self.rows, 4),
            "content_top3_accuracy_ceiling": round(self.content_top3 / self.rows, 4),
        }
