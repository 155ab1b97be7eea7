"""Fairness measurements and proxy detection. Protected attributes are measured, never modelled."""

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np

MIN_GROUP_SIZE = 100  # smaller groups are reported but not judged (too noisy)


@dataclass(frozen=True, kw_only=True)
class FairnessThresholds:
    min_four_fifths_ratio: float = 0.8
    max_demographic_parity_difference: float = 0.1
    max_equalized_odds_difference: float = 0.1
    max_proxy_correlation: float = 0.6


def selection_rates(selected: np.ndarray, groups: np.ndarray) -> dict[str, dict]:
    """Per group: size and share selected (the 'positive outcome')."""
    result = {}
    for group in sorted(set(groups.tolist())):
        mask = groups == group
        result[str(group)] = {"count": int(mask.sum()), "selection_rate": float(selected[mask].mean())}
    return result


def disparity(selected: np.ndarray, groups: np.ndarray, thresholds: FairnessThresholds) -> dict:
    """Four-fifths ratio (lowest / highest selection rate) and demographic-parity difference
    (highest - lowest), over groups with at least MIN_GROUP_SIZE members."""
    rates = selection_rates(selected, groups)
    judged = [r["selection_rate"] for r in rates.values() if r["count"] >= MIN_GROUP_SIZE]
    highest, lowest = max(judged), min(judged)
    ratio = lowest / highest if highest > 0 else 1.0
    difference = highest - lowest
    return {
        "groups": rates,
        "four_fifths_ratio": round(ratio, 4),
        "demographic_parity_difference": round(difference, 4),
        "passed": ratio >= thresholds.min_four_fifths_ratio
        and difference <= thresholds.max_demographic_parity_difference,
    }


def equalized_odds(predicted: np.ndarray, actual: np.ndarray, groups: np.ndarray,
                   thresholds: FairnessThresholds) -> dict:
    """Largest gap between groups in true-positive rate and in false-positive rate."""
    per_group = {}
    for group in sorted(set(groups.tolist())):
        mask = groups == group
        positives, negatives = mask & actual, mask & ~actual
        if positives.sum() == 0 or negatives.sum() == 0:
            continue
        per_group[str(group)] = {
            "count": int(mask.sum()),
            "true_positive_rate": float(predicted[positives].mean()),
            "false_positive_rate": float(predicted[negatives].mean()),
        }
    judged = [g for g in per_group.values() if g["count"] >= MIN_GROUP_SIZE]
    tpr_gap = max(g["true_positive_rate"] for g in judged) - min(g["true_positive_rate"] for g in judged)
    fpr_gap = max(g["false_positive_rate"] for g in judged) - min(g["false_positive_rate"] for g in judged)
    difference = max(tpr_gap, fpr_gap)
    return {
        "groups": per_group,
        "true_positive_rate_difference": round(tpr_gap, 4),
        "false_positive_rate_difference": round(fpr_gap, 4),
        "equalized_odds_difference": round(difference, 4),
        "passed": difference <= thresholds.max_equalized_odds_difference,
    }


def detect_proxies(candidates: Mapping[str, np.ndarray], protected: Mapping[str, np.ndarray],
                   threshold: float, exempt: Mapping[str, set[str]]) -> dict:
    """|Pearson r| of every candidate feature with every protected attribute (one-hot for
    categories). Features above `threshold` are proxies and must be dropped, except the
    sanctioned encodings listed in `exempt` (e.g. the age band for age)."""
    correlations: dict[str, dict[str, float]] = {}
    dropped: set[str] = set()
    for attribute, values in protected.items():
        indicators = _indicators(attribute, values)
        for feature, column in candidates.items():
            if feature in exempt.get(attribute, set()):
                continue
            for indicator_name, indicator in indicators.items():
                r = _pearson(column, indicator)
                if abs(r) >= 0.3:
                    correlations.setdefault(feature, {})[indicator_name] = round(r, 4)
                if abs(r) > threshold:
                    dropped.add(feature)
    return {"threshold": threshold, "notable_correlations": correlations, "dropped": sorted(dropped)}


def _indicators(name: str, values: np.ndarray) -> dict[str, np.ndarray]:
    if values.dtype.kind in "fiub":
        return {name: values.astype(float)}
    return {f"{name}={level}": (values == level).astype(float) for level in sorted(set(values.tolist()))}


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    mask = ~(np.isnan(x) | np.isnan(y))
    x, y = x[mask], y[mask]
    if len(x) < 3 or x.std() == 0 or y.std() == 0:
        return 0.0
    return float(np.corrcoef(x, y)[0, 1])


def thresholds_dict(thresholds: FairnessThresholds) -> dict:
    return asdict(thresholds)
