"""The what-if scenarios (engagement.scenarios) scored with the run's trained models.

Each scenario changes its column for the customers it picks; only those rows are scored again,
through the same feature function as every prediction. The result holds the sums of the models'
outputs before and after, over everyone and over the changed customers, so that shards add up.
"""

import zlib

import numpy as np
import polars as pl

import engagement_ml.models as models
from engagement.scenarios import SCENARIOS, Change, Scenario
from engagement.schema import BY_NAME, ID_COLUMN
from engagement_ml.features import FeatureState, build_features


def changed(frame: pl.DataFrame, scenario: Scenario) -> tuple[pl.DataFrame, np.ndarray]:
    """The frame with the scenario applied, and which rows it changed."""
    picked = np.fromiter((zlib.crc32(customer.encode()) % 100 < scenario.share_pct for customer in frame[ID_COLUMN]),
                         dtype=bool, count=frame.height)
    if scenario.only is not None:
        column, value = scenario.only
        picked &= (frame[column] == value).fill_null(False).to_numpy()
    current = pl.col(scenario.column)
    contract = BY_NAME[scenario.column]
    if scenario.change is Change.SET:
        new = pl.lit(scenario.value)
    else:
        new = current * scenario.value if scenario.change is Change.SCALE else current + scenario.value
        new = new.clip(contract.minimum, contract.maximum).cast(frame.schema[scenario.column])
    result = frame.with_columns(pl.when(pl.Series(picked)).then(new).otherwise(current).alias(scenario.column))
    return result, picked


def score_scenarios(frame: pl.DataFrame, state: FeatureState, model: dict, baseline: dict[str, np.ndarray],
                    threads: int) -> list[dict]:
    """`baseline`: this run's engagement, churn probability and LTV p50 for every row of `frame`."""
    return [_scored(frame, scenario, state, model, baseline, threads) for scenario in SCENARIOS]


def _scored(frame, scenario: Scenario, state, model, baseline, threads) -> dict:
    after_frame, picked = changed(frame, scenario)
    if picked.any():
        X = build_features(after_frame.filter(pl.Series(picked)), state)
        after = {"engagement": models.engagement_scores(model["engagement"], X, threads),
                 "churn": models.predict(model["churn"], X, threads),
                 "ltv_p50": models.ltv_quantiles(model["ltv"], X, threads)[1]}
    else:  # a shard may hold none of whom a scenario picks
        after = {name: np.zeros(0) for name in baseline}
    before = {name: values[picked] for name, values in baseline.items()}
    # Sums, not means: shards' scenarios add up (engagement.shards.merge_inference turns them into means).
    return {
        "name": scenario.name, "description": scenario.description, "customers": frame.height,
        "customers_changed": int(picked.sum()),
        "engagement_sum": float(baseline["engagement"].sum(dtype=np.float64)),
        "churn_sum": float(baseline["churn"].sum(dtype=np.float64)),
        **{f"changed_{name}_{when}_sum": float(values[name].sum(dtype=np.float64))
           for when, values in (("before", before), ("after", after)) for name in ("engagement", "churn", "ltv_p50")},
    }
