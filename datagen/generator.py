"""Generate customers chunk by chunk, with targets that are explicit functions of the features.

Every target is `f(observed features) + noise of known size`, so the best score any model could
reach is measurable: the manifest reports the score of the true function itself (the "oracle")
on the generated rows. Latent traits (activity, sociability, taste) drive the features so they
correlate realistically, but targets only ever read the observed, rounded columns.

Output depends only on (rows, seed, anomaly_share, as_of): chunks have a fixed size and each
chunk draws from its own generator seeded with (seed, chunk index).
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from faker.providers.internet.en_US import Provider as InternetProvider
from faker.providers.person.en_US import Provider as PersonProvider

from datagen.social_graph import eigenvector_centrality
from engagement.arrow_schema import ARROW_TYPES
from engagement.schema import (
    ACCOUNT_TYPES,
    BY_NAME,
    COLUMNS,
    CONTENT_CATEGORIES,
    DEVICE_TYPES,
    GENDERS,
    INFLUENCE_TIER_THRESHOLDS,
    INFLUENCE_TIERS,
    MAX_CONTENT_ENTROPY_BITS,
    TIMES_OF_DAY,
    US_STATES,
    ColumnType,
)

CHUNK_ROWS = 250_000  # part of the algorithm: changing it changes the output bytes
ENGAGEMENT_NOISE_SD = 0.05
LTV_LOG_NOISE_SD = 0.35
P10_Z = 1.2815515655446004  # standard normal 90th percentile

# Rough population shares: CA, TX, FL, NY, PA, IL, OH, GA, NC, MI carry most weight.
_STATE_WEIGHT = {"CA": 11.7, "TX": 9.0, "FL": 6.7, "NY": 5.9, "PA": 3.9, "IL": 3.8, "OH": 3.5, "GA": 3.3,
                 "NC": 3.2, "MI": 3.0}  # fmt: skip
STATE_P = np.array([_STATE_WEIGHT.get(s, 1.0) for s in US_STATES])
STATE_P /= STATE_P.sum()

_FIRST = PersonProvider.first_names
_LAST = PersonProvider.last_names
FIRST_NAMES = np.array(list(_FIRST), dtype=object)
LAST_NAMES = np.array(list(_LAST), dtype=object)
FIRST_P = np.array(list(_FIRST.values()), dtype=float) if hasattr(_FIRST, "values") else None
LAST_P = np.array(list(_LAST.values()), dtype=float)
if FIRST_P is not None:
    FIRST_P /= FIRST_P.sum()
LAST_P /= LAST_P.sum()
EMAIL_DOMAINS = np.array(InternetProvider.free_email_domains, dtype=object)

# Content interest: which observed traits pull a customer toward each category.
# Keys are standardized observed signals computed in `_content_signals`.
CONTENT_WEIGHTS: dict[str, dict[str, float]] = {
    "tech": {"desktop": 1.0, "gig_seller": 0.8, "young": 0.3},
    "food": {"evening": 0.6, "older": 0.4},
    "travel": {"premium": 1.0, "older": 0.3},
    "fitness": {"morning": 1.2, "young": 0.2},
    "fashion": {"posts": 0.8, "mobile": 0.5},
    "gaming": {"young": 1.2, "night": 1.0, "desktop": 0.4},
    "music": {"night": 0.6, "young": 0.5},
    "art": {"posts": 0.6, "tablet": 0.8},
    "sports": {"afternoon": 0.5, "events": 0.8},
    "business": {"gig_seller": 1.2, "revenue": 0.8, "older": 0.5},
    "education": {"gig_buyer": 0.9, "young": 0.3, "tablet": 0.4},
    "lifestyle": {"mobile": 0.4, "social": 0.6},
}
CONTENT_TEMPERATURE = 0.5


@dataclass(frozen=True, kw_only=True)
class GeneratorConfig:
    rows: int = 100_000
    seed: int = 42
    anomaly_share: float = 0.01
    as_of: date = date(2026, 11, 1)

    def __post_init__(self) -> None:
        if self.rows < 1:
            raise ValueError(f"rows must be at least 1, got {self.rows}")
        if not 0 <= self.anomaly_share < 0.5:
            raise ValueError(f"anomaly_share must be in [0, 0.5), got {self.anomaly_share}")


@dataclass(frozen=True)
class Chunk:
    """Generated rows plus the ground truth the manifest needs (never written into the data)."""

    table: pa.Table
    anomalous_ids: list[str]
    engagement_oracle: np.ndarray
    churn_probability: np.ndarray
    ltv_log_mean: np.ndarray
    content_probabilities: np.ndarray


def generate(config: GeneratorConfig) -> Iterator[Chunk]:
    for index, start in enumerate(range(0, config.rows, CHUNK_ROWS)):
        n = min(CHUNK_ROWS, config.rows - start)
        rng = np.random.default_rng([config.seed, index])
        yield _chunk(rng, start, n, config)


def _chunk(rng: np.random.Generator, start: int, n: int, config: GeneratorConfig) -> Chunk:
    """One chunk of customers. The steps draw from `rng` in a fixed order: the same seed, the same rows."""
    col: dict[str, np.ndarray] = {}
    ids, premium, time_of_day_index = _who(rng, start, n, col)
    activity, sociability, freelancer, seller = _latent_traits(rng, n, premium)
    _dating_and_activity(rng, n, col, activity, sociability)
    network_size = _network(rng, n, col, activity, sociability)
    _content(rng, n, col, activity, sociability, network_size)
    _monetization(rng, n, col, premium)
    has_transactions, first_transaction_days = _marketplace(rng, n, col, activity, freelancer, seller,
                                                            time_of_day_index)
    anomalies, content_p, engagement_oracle, churn_p, ltv_mu = _bots_and_targets(rng, n, col, config)
    _pii(rng, n, col, ids, config, has_transactions, first_transaction_days)
    return Chunk(
        table=_to_table(col),
        anomalous_ids=[str(x) for x in col["customer_id"][anomalies]],
        engagement_oracle=np.clip(engagement_oracle, 0, 1),
        churn_probability=churn_p,
        ltv_log_mean=ltv_mu,
        content_probabilities=content_p,
    )


def _who(rng: np.random.Generator, start: int, n: int, col: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # Who they are: ids, account, demographics, device, time of day.
    ids = np.arange(start + 1, start + n + 1)
    col["customer_id"] = _format_ids(ids)
    premium = rng.random(n) < 0.30
    col["account_type"] = np.where(premium, ACCOUNT_TYPES[1], ACCOUNT_TYPES[0]).astype(object)
    col["age"] = _truncated_normal(rng, 32, 10, 18, 65, n).round().astype(np.int64)
    col["gender"] = rng.choice(np.array(GENDERS, dtype=object), size=n, p=[0.48, 0.48, 0.04])
    col["location"] = rng.choice(np.array(US_STATES, dtype=object), size=n, p=STATE_P)
    col["device_type"] = rng.choice(np.array(DEVICE_TYPES, dtype=object), size=n, p=[0.70, 0.20, 0.10])
    time_of_day_index = rng.choice(4, size=n, p=[0.20, 0.25, 0.35, 0.20])
    col["time_of_day_active"] = np.array(TIMES_OF_DAY, dtype=object)[time_of_day_index]

    return ids, premium, time_of_day_index


def _latent_traits(rng: np.random.Generator, n: int, premium: np.ndarray) -> tuple:
    # Latent traits (never written): they make features move together.
    activity = rng.normal(0, 1, n) + 0.5 * premium
    sociability = 0.4 * activity + rng.normal(0, 0.9, n)
    freelancer = rng.random(n) < 0.30
    seller = freelancer & (rng.random(n) < 0.5)

    return activity, sociability, freelancer, seller


def _dating_and_activity(rng: np.random.Generator, n: int, col: dict, activity, sociability) -> None:
    # Dating: matches drive logins.
    col["match_success_rate"] = _unit(rng.beta(2, 8, n) + 0.04 * sociability)
    col["swipe_like_ratio"] = _unit(rng.beta(4, 4, n) - 0.1 * col["match_success_rate"])
    col["avg_daily_logins"] = _clip(
        np.exp(0.7 + 0.45 * activity + 1.5 * col["match_success_rate"] + rng.normal(0, 0.3, n)), "avg_daily_logins"
    )
    col["avg_session_duration_min"] = _clip(np.exp(2.8 + 0.35 * activity + rng.normal(0, 0.45, n)),
                                            "avg_session_duration_min")
    col["num_messages_sent_per_day"] = _clip(np.exp(1.5 + 0.5 * sociability + 0.3 * activity + rng.normal(0, 0.6, n)),
                                             "num_messages_sent_per_day")
    col["num_events_joined_month"] = _count(rng.poisson(np.exp(0.3 + 0.5 * sociability)), "num_events_joined_month")
    col["session_consistency_score"] = _unit(0.5 + 0.15 * activity + rng.normal(0, 0.15, n))
    col["days_since_last_login"] = _count(
        rng.exponential(np.exp(1.8 - 0.9 * activity - 1.5 * (col["session_consistency_score"] - 0.5))),
        "days_since_last_login",
    )
    col["notification_click_rate"] = _unit(rng.beta(2, 5, n) + 0.05 * activity)
    col["last_7_day_engagement_trend"] = _clip(rng.normal(0, 0.05, n) + 0.01 * activity, "last_7_day_engagement_trend")


def _network(rng: np.random.Generator, n: int, col: dict, activity, sociability) -> np.ndarray:
    # Network: power-law size, then a graph whose degrees follow it.
    network_size = (10 * (rng.pareto(1.3, n) + 1) * np.exp(0.5 * sociability)).round()
    col["total_connections"] = _count(network_size, "total_connections")
    col["num_new_connections_month"] = _count(rng.poisson(1 + 0.03 * np.sqrt(network_size) * np.exp(0.3 * activity)),
                                              "num_new_connections_month")
    # Eight decimals: centrality is heavy-tailed, most customers sit far below the hubs.
    col["network_centrality"] = np.round(eigenvector_centrality(network_size.astype(float), rng), 8)
    col["social_influence_tier"] = np.array(INFLUENCE_TIERS, dtype=object)[
        np.searchsorted(INFLUENCE_TIER_THRESHOLDS, col["total_connections"], side="right")
    ]
    col["social_influence_score"] = _unit(0.1 * np.log1p(network_size) + rng.normal(0, 0.08, n))
    col["influencer_follow_score"] = _unit(rng.beta(2, 6, n) + 0.05 * sociability)
    col["friend_group_participation_score"] = _unit(0.45 + 0.18 * sociability + rng.normal(0, 0.12, n))
    col["referral_count"] = _count(rng.poisson(0.3 * np.exp(0.6 * sociability)), "referral_count")
    col["profile_views_received_week"] = _count(rng.poisson(np.exp(2.0 + 0.4 * sociability) + 0.01 * network_size),
                                                "profile_views_received_week")

    return network_size


def _content(rng: np.random.Generator, n: int, col: dict, activity, sociability, network_size) -> None:
    # Content creation and consumption.
    col["content_posts_per_week"] = _count(rng.poisson(np.exp(0.6 + 0.5 * sociability + 0.2 * activity)),
                                           "content_posts_per_week")
    col["avg_reactions_per_post"] = _clip(np.exp(1.5 + 0.5 * np.log1p(network_size) / 2 + rng.normal(0, 0.5, n)),
                                          "avg_reactions_per_post")
    col["avg_comments_per_post"] = _clip(col["avg_reactions_per_post"] * rng.beta(2, 18, n), "avg_comments_per_post")
    col["content_virality_score"] = _unit(rng.beta(1.5, 12, n) + 0.02 * sociability)
    col["avg_scroll_depth_pct"] = _clip(100 * _unit(0.45 + 0.12 * activity + rng.normal(0, 0.15, n)),
                                        "avg_scroll_depth_pct")
    col["avg_sentiment_score"] = _clip(np.clip(rng.normal(0.2, 0.3, n) + 0.05 * sociability, -0.8, 0.9),
                                       "avg_sentiment_score")


def _monetization(rng: np.random.Generator, n: int, col: dict, premium) -> None:
    # Monetization.
    col["premium_feature_usage_rate"] = _unit(np.where(premium, rng.beta(5, 3, n), rng.beta(1, 12, n)))
    col["premium_features_used_count"] = _count(
        np.where(premium, rng.binomial(10, 0.55, n), rng.binomial(10, 0.03, n)), "premium_features_used_count"
    )
    col["avg_ads_engagement_rate"] = _unit(np.where(premium, rng.beta(1, 40, n), rng.beta(2, 40, n)))


def _marketplace(rng: np.random.Generator, n: int, col: dict, activity, freelancer, seller,
                 time_of_day_index) -> tuple[np.ndarray, np.ndarray]:
    # Freelance marketplace.
    col["gig_applications_sent_month"] = _count(np.where(freelancer & ~seller, rng.poisson(6, n), rng.poisson(0.2, n)),
                                                "gig_applications_sent_month")
    col["gig_listings_active"] = _count(np.where(seller, 1 + rng.poisson(2.5, n), 0), "gig_listings_active")
    has_transactions = seller | (freelancer & (rng.random(n) < 0.3))
    col["transaction_revenue_month"] = _clip(
        np.where(has_transactions, np.exp(5.5 + 0.4 * activity + rng.normal(0, 0.8, n)) * (rng.random(n) < 0.8), 0.0),
        "transaction_revenue_month",
    )
    first_transaction_days = _count(rng.gamma(2, 250, n), "time_since_first_transaction_days")
    col["time_since_first_transaction_days"] = np.where(has_transactions, first_transaction_days, -1)
    col["avg_job_completion_rating"] = np.where(
        has_transactions, _clip(np.clip(rng.normal(4.4, 0.4, n), 1, 5), "avg_job_completion_rating"), np.nan
    )
    col["response_time_avg_hours"] = _clip(np.exp(1.0 - 0.4 * activity + rng.normal(0, 0.7, n)), "response_time_avg_hours")
    col["trust_score"] = _unit(0.6 + 0.05 * activity + 0.1 * (np.nan_to_num(col["avg_job_completion_rating"], nan=4.4)
                                                               - 4.4) + rng.normal(0, 0.1, n))
    hour_start = np.array([6, 12, 17, 22])[time_of_day_index]
    hour_span = np.array([6, 5, 5, 8])[time_of_day_index]
    col["peak_activity_hour"] = ((hour_start + rng.integers(0, 1_000_000, n) % hour_span) % 24).astype(np.int64)

    return has_transactions, first_transaction_days


def _bots_and_targets(rng: np.random.Generator, n: int, col: dict, config: GeneratorConfig) -> tuple:
    # Bots: scripted, extreme, and regular. Their ids go to a side file, never into the data.
    anomalies = np.flatnonzero(rng.random(n) < config.anomaly_share)
    _inject_bots(rng, col, anomalies)

    # Content interest (target) and the breadth of content consumed (feature).
    content_p = _content_probabilities(col, n)
    col["content_diversity_score"] = _clip(
        np.clip(-(content_p * np.log2(content_p)).sum(axis=1), 0, MAX_CONTENT_ENTROPY_BITS), "content_diversity_score"
    )
    col["content_diversity_score"][anomalies] = _round(rng.uniform(0, 0.2, len(anomalies)))
    category_index = (content_p.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    col["content_category_primary"] = np.array(CONTENT_CATEGORIES, dtype=object)[category_index]

    # Legacy churn heuristic: a noisy rule of recency and logins, not the label.
    col["churn_risk_score"] = _round(_sigmoid(
        -1.0 + 0.08 * col["days_since_last_login"] - 0.15 * col["avg_daily_logins"] + rng.normal(0, 1.0, n)
    ))

    # Targets: explicit functions of observed columns, plus noise of known size.
    engagement_oracle = engagement_function(col)
    col["engagement_score"] = _round(np.clip(engagement_oracle + rng.normal(0, ENGAGEMENT_NOISE_SD, n), 0, 1))
    churn_p = churn_probability(col)
    col["churn_30_day"] = rng.random(n) < churn_p
    ltv_mu = ltv_log_mean(col)
    col["lifetime_value_usd"] = _clip(np.exp(ltv_mu + rng.normal(0, LTV_LOG_NOISE_SD, n)), "lifetime_value_usd")

    return anomalies, content_p, engagement_oracle, churn_p, ltv_mu


def _pii(rng: np.random.Generator, n: int, col: dict, ids, config: GeneratorConfig, has_transactions,
         first_transaction_days) -> None:
    # PII, for the raw layer only.
    first = _sample(rng, FIRST_NAMES, FIRST_P, n)
    last = _sample(rng, LAST_NAMES, LAST_P, n)
    col["full_name"] = pc.binary_join_element_wise(first, last, " ")
    col["email"] = pc.utf8_lower(pc.binary_join_element_wise(
        first, ".", last, pa.array(ids.astype(str)), "@", _sample(rng, EMAIL_DOMAINS, None, n), ""
    ))
    tenure_days = np.maximum(first_transaction_days * has_transactions, 0) + rng.integers(0, 1500, n)
    col["signup_date"] = np.datetime64(config.as_of, "D") - tenure_days.astype("timedelta64[D]")


def engagement_function(col: dict[str, np.ndarray]) -> np.ndarray:
    """True expected engagement before noise (premium, logins x session, matches x views...)."""
    premium = col["account_type"] == "premium"
    logins, session = col["avg_daily_logins"], col["avg_session_duration_min"]
    return (
        0.42
        + 0.10 * np.tanh((logins - 3) / 3)
        + 0.07 * np.tanh((session - 18) / 18)
        + 0.06 * premium
        + 0.05 * np.tanh(np.log1p(col["num_messages_sent_per_day"]) - 1.6)
        + 0.05 * np.tanh(logins * session / 150 - 0.5)
        + 0.04 * np.tanh(col["match_success_rate"] * col["profile_views_received_week"] / 3 - 0.5)
        - 0.09 * np.tanh(col["days_since_last_login"] / 14)
        + 0.06 * (col["session_consistency_score"] - 0.5)
        + 0.04 * (col["friend_group_participation_score"] - 0.45)
        + 0.06 * (col["notification_click_rate"] - 0.3)
        + 0.50 * col["last_7_day_engagement_trend"]
        + 0.03 * np.tanh(col["content_posts_per_week"] / 4)
    )


def churn_probability(col: dict[str, np.ndarray]) -> np.ndarray:
    premium = col["account_type"] == "premium"
    logit = (
        -1.3
        + 1.8 * np.tanh(col["days_since_last_login"] / 21)
        - 2.0 * (col["session_consistency_score"] - 0.5)
        - 0.6 * premium
        - 0.6 * np.tanh((col["avg_daily_logins"] - 3) / 3)
        - 1.5 * (col["notification_click_rate"] - 0.3)
        - 6.0 * col["last_7_day_engagement_trend"]
        - 1.0 * (col["trust_score"] - 0.6)
        - 0.3 * np.tanh(col["num_events_joined_month"] / 3)
    )
    return _sigmoid(logit)


def ltv_log_mean(col: dict[str, np.ndarray]) -> np.ndarray:
    premium = col["account_type"] == "premium"
    return (
        4.2
        + 0.9 * premium
        + 0.25 * np.log1p(col["transaction_revenue_month"])
        + 0.25 * np.tanh((col["avg_daily_logins"] - 3) / 3)
        + 0.15 * np.log1p(col["referral_count"])
        + 0.5 * col["premium_feature_usage_rate"]
        - 0.3 * np.tanh(col["days_since_last_login"] / 30)
    )


def _content_signals(col: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    age = col["age"]
    return {
        "young": (30 - age) / 10,
        "older": (age - 35) / 10,
        "premium": (col["account_type"] == "premium").astype(float),
        "posts": np.tanh(col["content_posts_per_week"] / 4),
        "events": np.tanh(col["num_events_joined_month"] / 3),
        "gig_seller": (col["gig_listings_active"] > 0).astype(float),
        "gig_buyer": (col["gig_applications_sent_month"] > 0).astype(float),
        "revenue": np.tanh(col["transaction_revenue_month"] / 500),
        "social": col["friend_group_participation_score"],
        **{tod: (col["time_of_day_active"] == tod).astype(float) for tod in TIMES_OF_DAY},
        **{device: (col["device_type"] == device).astype(float) for device in DEVICE_TYPES},
    }


def _content_probabilities(col: dict[str, np.ndarray], n: int) -> np.ndarray:
    signals = _content_signals(col)
    logits = np.zeros((n, len(CONTENT_CATEGORIES)))
    for k, category in enumerate(CONTENT_CATEGORIES):
        for signal, weight in CONTENT_WEIGHTS[category].items():
            logits[:, k] += weight * signals[signal]
    logits /= CONTENT_TEMPERATURE
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


def _inject_bots(rng: np.random.Generator, col: dict[str, np.ndarray], rows: np.ndarray) -> None:
    k = len(rows)
    if not k:
        return
    overrides = {
        "avg_daily_logins": rng.uniform(30, 80, k),
        "avg_session_duration_min": rng.uniform(0.2, 1.5, k),
        "num_messages_sent_per_day": rng.uniform(300, 1200, k),
        "swipe_like_ratio": rng.uniform(0.97, 1.0, k),
        "match_success_rate": rng.uniform(0, 0.02, k),
        "response_time_avg_hours": rng.uniform(0, 0.05, k),
        "session_consistency_score": rng.uniform(0.97, 1.0, k),
        "trust_score": rng.uniform(0, 0.15, k),
        "num_new_connections_month": rng.integers(300, 1500, k),
        "avg_scroll_depth_pct": rng.uniform(0, 5, k),
        "content_posts_per_week": rng.integers(50, 300, k),
    }
    for name, values in overrides.items():
        column = BY_NAME[name]
        col[name][rows] = values if column.type is ColumnType.INT else _round(values)
    col["peak_activity_hour"][rows] = rng.integers(0, 24, k)


def _to_table(col: dict[str, np.ndarray]) -> pa.Table:
    arrays = []
    for column in COLUMNS:
        values = col[column.name]
        if column.name == "time_since_first_transaction_days":
            arrays.append(pa.array(values, type=pa.int64(), mask=values < 0))
        elif column.name == "avg_job_completion_rating":
            arrays.append(pa.array(values, type=pa.float64(), from_pandas=True))
        elif isinstance(values, (pa.Array, pa.ChunkedArray)):
            arrays.append(values)
        else:
            arrays.append(pa.array(values, type=ARROW_TYPES[column.type]))
    return pa.Table.from_arrays(arrays, names=[c.name for c in COLUMNS])


def _format_ids(ids: np.ndarray) -> np.ndarray:
    return np.char.add("CUST-", np.char.zfill(ids.astype(str), 8)).astype(object)


def _sample(rng: np.random.Generator, values: np.ndarray, p: np.ndarray | None, n: int) -> pa.Array:
    return pa.array(values[rng.choice(len(values), size=n, p=p)], type=pa.string())


def _truncated_normal(rng, mean, sd, low, high, n) -> np.ndarray:
    values = rng.normal(mean, sd, n)
    bad = (values < low) | (values > high)
    while bad.any():
        values[bad] = rng.normal(mean, sd, bad.sum())
        bad = (values < low) | (values > high)
    return values


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _round(x: np.ndarray) -> np.ndarray:
    return np.round(x, 4)


def _clip(x: np.ndarray, name: str) -> np.ndarray:
    column = BY_NAME[name]
    return _round(np.clip(x, column.minimum, column.maximum))


def _unit(x: np.ndarray) -> np.ndarray:
    return _round(np.clip(x, 0, 1))


def _count(x: np.ndarray, name: str) -> np.ndarray:
    column = BY_NAME[name]
    return np.clip(np.round(x), column.minimum, column.maximum).astype(np.int64)
