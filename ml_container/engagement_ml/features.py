"""The one feature-engineering function, shared by training and inference.

`fit_feature_state` learns what must be fixed at training time (categories, proxies to drop);
`build_features` turns customer rows into the model matrix using only that state, so training and
inference cannot drift apart. The state is saved in every model's metadata.json.

Inputs are the contract's feature columns minus protected attributes: gender never enters, age
enters only as a band, location only as a census region. Targets and PII never enter.
"""

from dataclasses import asdict, dataclass, field

import numpy as np
import polars as pl

from engagement.schema import (
    BY_NAME,
    FEATURE_COLUMNS,
    PROTECTED_COLUMNS,
    ColumnType,
)

AGE_BAND_EDGES = (25, 35, 45, 55)  # bands 18-24, 25-34, 35-44, 45-54, 55+
AGE_BAND_LABELS = ("18-24", "25-34", "35-44", "45-54", "55+")
CENSUS_REGION = {
    **dict.fromkeys(("CT", "ME", "MA", "NH", "RI", "VT", "NJ", "NY", "PA"), "northeast"),
    **dict.fromkeys(("IL", "IN", "MI", "OH", "WI", "IA", "KS", "MN", "MO", "NE", "ND", "SD"), "midwest"),
    **dict.fromkeys(("DE", "DC", "FL", "GA", "MD", "NC", "SC", "VA", "WV", "AL", "KY", "MS", "TN", "AR", "LA",
                     "OK", "TX"), "south"),
    **dict.fromkeys(("AZ", "CO", "ID", "MT", "NV", "NM", "UT", "WY", "AK", "CA", "HI", "OR", "WA"), "west"),
}
# Interaction features named in the spec, plus activity rates that need no target.
INTERACTIONS = {
    "logins_x_session_minutes": ("avg_daily_logins", "avg_session_duration_min"),
    "match_rate_x_profile_views": ("match_success_rate", "profile_views_received_week"),
}
RATIOS = {
    "messages_per_login": ("num_messages_sent_per_day", "avg_daily_logins"),
    "revenue_per_listing": ("transaction_revenue_month", "gig_listings_active"),
}
ENCODED_ELSEWHERE = {"age", "location"}
CATEGORICAL = tuple(
    name for name in FEATURE_COLUMNS
    if BY_NAME[name].type is ColumnType.STRING and name not in PROTECTED_COLUMNS and name not in ENCODED_ELSEWHERE
)
NUMERIC = tuple(
    name for name in FEATURE_COLUMNS
    if BY_NAME[name].type is not ColumnType.STRING and name not in PROTECTED_COLUMNS and name not in ENCODED_ELSEWHERE
)


@dataclass
class FeatureState:
    """What training fixed: the categories seen, the proxies dropped, the resulting columns."""

    categories: dict[str, list[str]]
    dropped_proxies: list[str] = field(default_factory=list)
    feature_names: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "FeatureState":
        return cls(**data)


def fit_feature_state(frame: pl.DataFrame, dropped_proxies: list[str] = ()) -> FeatureState:
    categories = {name: sorted(frame[name].drop_nulls().unique().to_list()) for name in CATEGORICAL}
    categories["region"] = sorted(set(CENSUS_REGION.values()))
    state = FeatureState(categories=categories, dropped_proxies=sorted(dropped_proxies))
    state.feature_names = [name for name in _all_feature_names(state) if name not in state.dropped_proxies]
    return state


def build_features(frame: pl.DataFrame, state: FeatureState) -> np.ndarray:
    """The model matrix (float32, one column per `state.feature_names`, NaN for missing)."""
    columns = _all_columns(frame, state)
    return np.column_stack([columns[name] for name in state.feature_names]).astype(np.float32)


def candidate_features(frame: pl.DataFrame, state: FeatureState) -> dict[str, np.ndarray]:
    """Every engineered column before proxies are dropped (for proxy detection)."""
    return _all_columns(frame, state)


def age_band(age: np.ndarray) -> np.ndarray:
    return np.searchsorted(AGE_BAND_EDGES, age, side="right")


def _all_feature_names(state: FeatureState) -> list[str]:
    names = list(NUMERIC) + ["age_band"] + list(INTERACTIONS) + list(RATIOS)
    for name, values in state.categories.items():
        names += [f"{name}={value}" for value in values]
    return names


def _all_columns(frame: pl.DataFrame, state: FeatureState) -> dict[str, np.ndarray]:
    def numeric(name: str) -> np.ndarray:
        return frame[name].cast(pl.Float64).fill_null(np.nan).to_numpy()

    columns = {name: numeric(name) for name in NUMERIC}
    columns["age_band"] = age_band(frame["age"].to_numpy()).astype(float)
    for name, (left, right) in INTERACTIONS.items():
        columns[name] = columns[left] * columns[right]
    for name, (numerator, denominator) in RATIOS.items():
        with np.errstate(divide="ignore", invalid="ignore"):
            columns[name] = np.where(columns[denominator] > 0, columns[numerator] / columns[denominator], 0.0)
    values = {name: frame[name].to_numpy() for name in CATEGORICAL}
    values["region"] = np.array([CENSUS_REGION.get(s, "") for s in frame["location"].to_list()], dtype=object)
    for name, known in state.categories.items():
        for value in known:
            columns[f"{name}={value}"] = (values[name] == value).astype(float)
    return columns
