"""Fairness measurements and proxy detection. Protected attributes are measured, never modelled.

Gaps between groups are estimates: with a few hundred customers per group, chance alone moves a
rate by several points. A check therefore fails only when the evidence says the true gap is
beyond its threshold: the 95% lower bound of a difference (or the 95% upper bound of the
four-fifths ratio) must cross the threshold. Point values and bounds are both reported; at
100K customers the two are within a point or two.
"""

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import math

import numpy as np

MIN_GROUP_SIZE = 100  # smaller groups are reported but not judged (too noisy)
Z95 = 1.96
MIN_OUTCOME_SIZE = 100  # equalized odds: actual positives and negatives each, per judged group (rate ±0.08 at 95%)


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
    judged = [r for r in rates.values() if r["count"] >= MIN_GROUP_SIZE]
    if len(judged) < 2:
        return {"groups": rates, "four_fifths_ratio": None, "demographic_parity_difference": None,
                "passed": True, "note": "fewer than two groups large enough"}
    high = max(judged, key=lambda r: r["selection_rate"])
    low = min(judged, key=lambda r: r["selection_rate"])
    ratio = low["selection_rate"] / high["selection_rate"] if high["selection_rate"] > 0 else 1.0
    difference = high["selection_rate"] - low["selection_rate"]
    ratio_upper = _ratio_upper_bound(low["selection_rate"], low["count"], high["selection_rate"], high["count"])
    difference_lower = _gap_lower_bound(high["selection_rate"], high["count"], low["selection_rate"], low["count"])
    return {
        "groups": rates,
        "four_fifths_ratio": round(ratio, 4),
        "four_fifths_ratio_upper_bound": round(ratio_upper, 4),
        "demographic_parity_difference": round(difference, 4),
        "demographic_parity_difference_lower_bound": round(difference_lower, 4),
        "passed": ratio_upper >= thresholds.min_four_fifths_ratio
        and difference_lower <= thresholds.max_demographic_parity_difference,
    }


def equalized_odds(predicted: np.ndarray, actual: np.ndarray, groups: np.ndarray,
                   thresholds: FairnessThresholds) -> dict:
    """Largest gap between groups in true-positive rate and in false-positive rate (judged over
    groups with enough members, and enough actual positives and negatives, to estimate both)."""
    per_group = {}
    for group in sorted(set(groups.tolist())):
        mask = groups == group
        positives, negatives = mask & actual, mask & ~actual
        if positives.sum() == 0 or negatives.sum() == 0:
            continue
        per_group[str(group)] = {
            "count": int(mask.sum()),
            "positives": int(positives.sum()),
            "negatives": int(negatives.sum()),
            "true_positive_rate": float(predicted[positives].mean()),
            "false_positive_rate": float(predicted[negatives].mean()),
        }
    judged = [g for g in per_group.values()
              if g["count"] >= MIN_GROUP_SIZE and min(g["positives"], g["negatives"]) >= MIN_OUTCOME_SIZE]
    if len(judged) < 2:
        return {"groups": per_group, "true_positive_rate_difference": None, "false_positive_rate_difference": None,
                "equalized_odds_difference": None, "passed": True, "note": "fewer than two groups large enough"}
    gaps = {}
    for rate, size in (("true_positive_rate", "positives"), ("false_positive_rate", "negatives")):
        high = max(judged, key=lambda g: g[rate])
        low = min(judged, key=lambda g: g[rate])
        gaps[rate] = (high[rate] - low[rate], _gap_lower_bound(high[rate], high[size], low[rate], low[size]))
    difference = max(gap for gap, _ in gaps.values())
    difference_lower = max(lower for _, lower in gaps.values())
    return {
        "groups": per_group,
        "true_positive_rate_difference": round(gaps["true_positive_rate"][0], 4),
        "false_positive_rate_difference": round(gaps["false_positive_rate"][0], 4),
        "equalized_odds_difference": round(difference, 4),
        "equalized_odds_difference_lower_bound": round(difference_lower, 4),
        "passed": difference_lower <= thresholds.max_equalized_odds_difference,
    }


def _gap_lower_bound(p_high: float, n_high: int, p_low: float, n_low: int) -> float:
    """95% lower confidence bound of p_high - p_low (normal approximation), floored at 0."""
    se = math.sqrt(p_high * (1 - p_high) / n_high + p_low * (1 - p_low) / n_low)
    return max(0.0, p_high - p_low - Z95 * se)


def _ratio_upper_bound(p_low: float, n_low: int, p_high: float, n_high: int) -> float:
    """95% upper confidence bound of p_low / p_high (delta method on the log ratio), capped at 1."""
    if p_low <= 0 or p_high <= 0:
        return 1.0 if p_high <= 0 else 0.0
    se = math.sqrt((1 - p_low) / (n_low * p_low) + (1 - p_high) / (n_high * p_high))
    return min(1.0, math.exp(math.log(p_low / p_high) + Z95 * se))


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
