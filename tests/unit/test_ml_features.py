"""The shared feature function: no target or protected attribute gets in; train and infer agree."""

import numpy as np
import polars as pl
import pytest

from engagement.schema import PROTECTED_COLUMNS, TARGET_COLUMNS
from engagement_ml.features import AGE_BAND_LABELS, age_band, build_features, fit_feature_state


@pytest.fixture(scope="module")
def frames(ml_data):
    return pl.read_parquet(ml_data / "training.parquet"), pl.read_parquet(ml_data / "test.parquet")


def test_no_target_or_protected_column_is_a_feature(frames):
    state = fit_feature_state(frames[0])
    names = set(state.feature_names)
    for column in (*TARGET_COLUMNS, *PROTECTED_COLUMNS):
        assert not any(name == column or name.startswith(f"{column}=") for name in names), column
    assert "age_band" in names and not any(name.startswith("location=") for name in names)


def test_changing_targets_or_gender_does_not_change_the_matrix(frames):
    train = frames[0]
    state = fit_feature_state(train)
    scrambled = train.with_columns(
        pl.col("engagement_score").shuffle(seed=1),
        pl.col("churn_30_day").not_(),
        pl.col("lifetime_value_usd") * 7,
        pl.col("content_category_primary").shuffle(seed=2),
        pl.col("gender").shuffle(seed=3),
    )
    assert np.array_equal(build_features(train, state), build_features(scrambled, state), equal_nan=True)


def test_training_and_inference_produce_identical_columns(frames):
    train, test = frames
    state = fit_feature_state(train)
    one_row = test.head(1).with_columns(pl.lit("tablet").alias("device_type"))
    assert build_features(train, state).shape[1] == build_features(one_row, state).shape[1] == len(state.feature_names)


def test_unseen_category_at_inference_encodes_as_all_zero(frames):
    train = frames[0].filter(pl.col("device_type") != "tablet")
    state = fit_feature_state(train)
    assert "device_type=tablet" not in state.feature_names
    row = frames[1].head(1).with_columns(pl.lit("tablet").alias("device_type"))
    X = build_features(row, state)
    device_columns = [i for i, n in enumerate(state.feature_names) if n.startswith("device_type=")]
    assert X[0, device_columns].sum() == 0


def test_spec_interactions_are_present(frames):
    train = frames[0]
    state = fit_feature_state(train)
    X = build_features(train, state)
    column = state.feature_names.index("logins_x_session_minutes")
    expected = (train["avg_daily_logins"] * train["avg_session_duration_min"]).to_numpy()
    assert np.allclose(X[:, column], expected, rtol=1e-5)


def test_age_bands():
    assert age_band(np.array([18, 24, 25, 34, 35, 54, 55, 65])).tolist() == [0, 0, 1, 1, 2, 3, 4, 4]
    assert len(AGE_BAND_LABELS) == 5


def test_state_round_trips_and_dropped_proxies_leave_the_matrix(frames):
    train = frames[0]
    state = fit_feature_state(train, ["trust_score"])
    assert "trust_score" not in state.feature_names
    from engagement_ml.features import FeatureState

    again = FeatureState.from_dict(state.to_dict())
    assert np.array_equal(build_features(train, state), build_features(train, again), equal_nan=True)
