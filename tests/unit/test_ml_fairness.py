"""Fairness math on hand-built cases."""

import numpy as np
import pytest

from engagement_ml.fairness import FairnessThresholds, detect_proxies, disparity, equalized_odds

T = FairnessThresholds()


def groups_of(**sizes):
    return np.concatenate([[name] * size for name, size in sizes.items()])


def test_four_fifths_ratio_and_parity_difference():
    groups = groups_of(a=200, b=200)
    selected = np.concatenate([np.r_[np.ones(100), np.zeros(100)], np.r_[np.ones(70), np.zeros(130)]]).astype(bool)
    result = disparity(selected, groups, T)
    assert result["groups"]["a"]["selection_rate"] == 0.5 and result["groups"]["b"]["selection_rate"] == 0.35
    assert result["four_fifths_ratio"] == pytest.approx(0.7)
    assert result["demographic_parity_difference"] == pytest.approx(0.15)
    # 200 per group: the gap could be chance, so the check does not fail on it...
    assert result["four_fifths_ratio_upper_bound"] > 0.8 and result["passed"] is True
    # ...but the same rates over 5,000 per group are evidence, and fail.
    big = disparity(np.repeat(selected, 25), np.repeat(groups, 25), T)
    assert big["four_fifths_ratio"] == pytest.approx(0.7) and big["passed"] is False
    assert big["demographic_parity_difference_lower_bound"] == pytest.approx(0.15 - 1.96 * np.sqrt(
        0.5 * 0.5 / 5000 + 0.35 * 0.65 / 5000), abs=1e-4)


def test_equal_rates_pass():
    groups = groups_of(a=300, b=300)
    selected = np.tile([True, False, False], 200)
    result = disparity(selected, groups, T)
    assert result["four_fifths_ratio"] == 1.0 and result["passed"] is True


def test_confidence_bounds_shrink_to_the_point_value_with_size():
    groups = groups_of(a=100_000, b=100_000)
    selected = np.r_[np.tile([True, False], 50_000), np.tile([True, False, False, False], 25_000)]
    result = disparity(selected, groups, T)
    assert result["four_fifths_ratio"] == 0.5
    assert result["four_fifths_ratio_upper_bound"] == pytest.approx(0.5, abs=0.01)


def test_small_groups_are_reported_but_not_judged():
    groups = groups_of(a=500, b=500, tiny=10)
    selected = np.r_[np.tile([True, False], 500), np.zeros(10, dtype=bool)]
    result = disparity(selected, groups, T)
    assert result["groups"]["tiny"]["count"] == 10
    assert result["four_fifths_ratio"] == 1.0 and result["passed"] is True


def test_equalized_odds_gaps():
    groups = groups_of(a=400, b=400)
    actual = np.tile([True, False], 400)  # 200 positives and 200 negatives per group
    predicted = actual.copy()
    b = groups == "b"
    # group b: misses half its positives (TPR 0.5) and flags a quarter of negatives (FPR 0.25)
    b_pos, b_neg = np.flatnonzero(b & actual), np.flatnonzero(b & ~actual)
    predicted[b_pos[:100]] = False
    predicted[b_neg[:50]] = True
    result = equalized_odds(predicted, actual, groups, T)
    assert result["true_positive_rate_difference"] == pytest.approx(0.5)
    assert result["false_positive_rate_difference"] == pytest.approx(0.25)
    assert result["equalized_odds_difference"] == pytest.approx(0.5) and result["passed"] is False
    assert 0.35 < result["equalized_odds_difference_lower_bound"] < 0.5


def test_equalized_odds_needs_enough_positives_and_negatives():
    groups = groups_of(a=150, b=150)
    actual = np.tile([True, False, False], 100)  # 50 positives per group: too few to judge
    result = equalized_odds(~actual, actual, groups, T)
    assert result["passed"] is True and result["equalized_odds_difference"] is None


def test_proxy_detection_drops_strong_correlates_and_respects_exemptions():
    rng = np.random.default_rng(0)
    gender = rng.choice(np.array(["M", "F"]), 2_000)
    age = rng.integers(18, 66, 2_000).astype(float)
    candidates = {
        "copy_of_gender": (gender == "F").astype(float) + rng.normal(0, 0.1, 2_000),
        "noise": rng.normal(0, 1, 2_000),
        "age_band": np.floor(age / 10),
        "age_twin": age + rng.normal(0, 1, 2_000),
    }
    result = detect_proxies(candidates, {"gender": gender, "age": age}, threshold=0.6, exempt={"age": {"age_band"}})
    assert result["dropped"] == ["age_twin", "copy_of_gender"]
    assert "noise" not in result["notable_correlations"]
