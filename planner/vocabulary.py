"""The words that name the columns the planner can ask about, derived from the data contract.

A column is named by its own name ("match success rate"), by that name without its leading
"avg"/"num" and trailing unit words ("content virality"), by a longer allowed value ("premium",
"mobile"), or by a synonym below. Where names overlap in a question the longest wins.
"""

import re
from functools import cache

from engagement.layout import ASSISTANT_VIEW
from engagement.schema import BY_NAME, ColumnType, deidentified_columns

CUSTOMERS = ASSISTANT_VIEW.qualified  # every feature, label and prediction, one row a customer, no id
ENGAGEMENT = "engagement_score"
MEASURES = deidentified_columns()
NUMERIC = tuple(c for c, t in MEASURES.items() if t in (ColumnType.INT, ColumnType.DOUBLE))
CATEGORICAL = tuple(c for c, t in MEASURES.items() if t in (ColumnType.STRING, ColumnType.BOOLEAN))
PREDICTED_CATEGORICAL = ("segment_name", "churn_risk_tier", "content_interest_1")  # predictions, not features

SYNONYMS = {
    "engagement_score": ("engagement", "engaged"),
    "time_of_day_active": ("time of day",),
    "device_type": ("device",),
    "account_type": ("account", "subscription", "premium status"),
    "age_band": ("age", "age group"),
    "location": ("location", "state", "where"),
    "content_posts_per_week": ("posting frequency", "content posting", "posts", "content posts"),
    "avg_daily_logins": ("daily logins", "logins", "daily active usage", "daily active"),
    "notification_click_rate": ("ctr", "click rate", "notification click"),
    "num_new_connections_month": ("new connections", "adding new connections"),
    "last_7_day_engagement_trend": ("trajectory", "trajectories", "engagement trend"),
    "gig_listings_active": ("active listings", "listings", "gig sellers"),
    "avg_job_completion_rating": ("job completion", "job completion ratings"),
    "premium_feature_usage_rate": ("premium features", "premium feature"),
    "days_since_last_login": ("days since last login", "last login", "days of low engagement"),
    "total_connections": ("connections", "network size"),
    "transaction_revenue_month": ("transaction revenue", "revenue"),
    "churn_30_day": ("churn", "churned"),
    "lifetime_value_usd": ("lifetime value", "ltv"),
    "segment_name": ("segment", "persona"),
    "churn_risk_tier": ("churn risk tier",),
    "content_interest_1": ("content interest", "interest"),
}
LEADING, TRAILING = {"avg", "num"}, {"score", "rate", "pct", "count", "month", "week", "day", "per", "hours", "days",
                                      "min", "usd"}


@cache
def _names() -> list[tuple[str, str]]:
    """(name, column), longest names first."""
    names = []
    for column in (*MEASURES, *PREDICTED_CATEGORICAL):
        words = column.split("_")
        short = list(words)
        while short and short[0] in LEADING:
            short.pop(0)
        while len(short) > 1 and short[-1] in TRAILING:
            short.pop()
        contract = BY_NAME.get(column)
        values = [v for v in (contract.allowed or ()) if len(v) >= 4 and v != "Other"] if contract else []
        for name in {" ".join(words), " ".join(short), *values, *SYNONYMS.get(column, ())}:
            names.append((name.lower(), column))
    return sorted(names, key=lambda pair: -len(pair[0]))


def columns_named(text: str) -> list[str]:
    """The columns `text` names, in the order it names them (overlaps: the longest name wins)."""
    taken: list[tuple[int, int]] = []
    found: list[tuple[int, str]] = []
    for name, column in _names():
        for match in re.finditer(rf"\b{re.escape(name)}(?:s|es)?\b", text):
            if any(match.start() < end and start < match.end() for start, end in taken):
                continue
            taken.append((match.start(), match.end()))
            found.append((match.start(), column))
    return list(dict.fromkeys(column for _, column in sorted(found)))


def numeric_named(text: str) -> list[str]:
    return [c for c in columns_named(text) if c in NUMERIC and c != ENGAGEMENT]


def categorical_named(text: str) -> list[str]:
    return [c for c in columns_named(text) if c in CATEGORICAL or c in PREDICTED_CATEGORICAL]


def words(column: str) -> str:
    return column.replace("_", " ")
