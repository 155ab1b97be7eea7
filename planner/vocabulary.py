"""The words that name the columns the planner can ask about, derived from the data contract.

A column is named by its own name ("match success rate"), by that name without its leading
"avg"/"num" and trailing unit words ("content virality"), by a longer allowed value ("premium",
"mobile"), or by a synonym below. Where names overlap in a question the longest wins.
"""

import re
from dataclasses import dataclass
from functools import cache

from engagement.layout import ASSISTANT_VIEW
from engagement.predictions_schema import ASSISTANT_PREDICTIONS, PREDICTION_COLUMNS
from engagement.schema import BY_NAME, ColumnType, deidentified_columns

CUSTOMERS = ASSISTANT_VIEW.qualified  # every feature, label and prediction, one row a customer, no id
ENGAGEMENT = "engagement_score"
MEASURES = deidentified_columns()
NUMERIC = tuple(c for c, t in MEASURES.items() if t in (ColumnType.INT, ColumnType.DOUBLE))
CATEGORICAL = tuple(c for c, t in MEASURES.items() if t in (ColumnType.STRING, ColumnType.BOOLEAN))
PREDICTED_CATEGORICAL = ("segment_name", "churn_risk_tier", "content_interest_1")  # predictions, not features
_PREDICTION_TYPES = {name: type_ for name, type_, _ in PREDICTION_COLUMNS}
# Every column of the assistant's view by its kind: the contract's measures and the predictions.
VIEW_COLUMNS = {**{c: str(t) for c, t in MEASURES.items()},
                **{c: _PREDICTION_TYPES.get(c, "string") for c in ASSISTANT_PREDICTIONS}}
NUMERIC_ALL = tuple(c for c, t in VIEW_COLUMNS.items() if t in ("int", "double", "bigint"))
BOOLEAN = tuple(c for c, t in VIEW_COLUMNS.items() if t == "boolean")

SYNONYMS = {
    "engagement_score": ("engagement", "engaged", "engagement level", "engage"),
    "avg_session_duration_min": ("session length", "session duration", "session time", "time per session",
                                 "length of a session", "session lengths", "sessions"),
    "time_since_first_transaction_days": ("tenure", "days since first transaction", "customer age", "account age"),
    "num_messages_sent_per_day": ("messages", "messages sent", "messaging"),
    "gender": ("gender", "sex"),
    "churn_probability": ("churn probability", "churn likelihood", "probability of churning", "chance of churning",
                          "predicted churn probability"),
    "predicted_engagement_score": ("predicted engagement", "predicted engagement score", "engagement prediction"),
    "ltv_p50_usd": ("predicted lifetime value", "predicted ltv", "ltv estimate", "median ltv estimate"),
    "ltv_p90_usd": ("optimistic ltv", "ltv upper estimate"),
    "ltv_p10_usd": ("pessimistic ltv", "ltv lower estimate"),
    "anomaly_score": ("anomaly score",),
    "anomaly_flag": ("anomaly flag", "anomalies", "anomaly"),
    "churn_flag": ("churn flag",),
    "social_influence_tier": ("influence tier", "influencer tier"),
    "content_category_primary": ("content category", "primary content category", "favourite category",
                                 "favorite category"),
    "swipe_like_ratio": ("swipe ratio", "like ratio"),
    "response_time_avg_hours": ("response time",),
    "peak_activity_hour": ("peak hour", "peak activity"),
    "time_of_day_active": ("time of day",),
    "device_type": ("device",),
    "account_type": ("account", "subscription", "premium status"),
    "age_band": ("age", "age group"),
    "location": ("location", "state", "where"),
    "content_posts_per_week": ("posting frequency", "content posting", "posts", "content posts"),
    "avg_daily_logins": ("daily logins", "logins", "daily active usage", "daily active", "login frequency", "log in",
                         "logs in"),
    "gig_applications_sent_month": ("gig applications", "applications sent"),
    "profile_views_received_week": ("profile views",),
    "notification_click_rate": ("ctr", "click rate", "notification click"),
    "num_new_connections_month": ("new connections", "adding new connections"),
    "last_7_day_engagement_trend": ("trajectory", "trajectories", "engagement trend"),
    "gig_listings_active": ("active listings", "listings", "gig sellers"),
    "avg_job_completion_rating": ("job completion", "job completion ratings"),
    "premium_feature_usage_rate": ("premium features", "premium feature"),
    "days_since_last_login": ("days since last login", "last login", "days of low engagement", "inactivity",
                              "days inactive"),
    "total_connections": ("connections", "network size"),
    "transaction_revenue_month": ("transaction revenue", "revenue", "monthly revenue", "spend", "spending"),
    "churn_30_day": ("churn", "30-day churn", "churn label"),
    "lifetime_value_usd": ("lifetime value", "ltv", "customer value", "lifetime values"),
    "segment_name": ("segment", "persona"),
    "churn_risk_tier": ("churn risk tier",),
    "content_interest_1": ("content interest", "interest"),
}
# Words that name one value of a column, beside the contract's allowed values.
VALUE_WORDS = {
    "churn_30_day": {True: ("churned", "churners", "who churn", "churning customers", "lost customers"),
                     False: ("retained", "stayed", "did not churn", "didn't churn", "not churned", "kept")},
    "anomaly_flag": {True: ("anomalous", "flagged as anomalous", "suspicious"), False: ("normal", "not anomalous")},
    "churn_flag": {True: ("flagged to churn", "predicted to churn", "predicted churners")},
    "gender": {"M": ("male", "men"), "F": ("female", "women")},
    "time_of_day_active": {"night": ("night owls",), "morning": ("early birds", "morning people")},
    "age_band": {band: (band, f"aged {band}") for band in ("18-24", "25-34", "35-44", "45-54")}
    | {"55+": ("55+", "over 55s")},
}
LEADING, TRAILING = {"avg", "num"}, {"score", "rate", "pct", "count", "month", "week", "day", "per", "hours", "days",
                                      "min", "usd"}


@dataclass
class Mention:
    """Where a question names a column, or one value of it."""

    start: int
    end: int
    column: str
    value: object = None  # the value named, if the name is a value's
    used: bool = False  # taken by a condition or grouping


@cache
def _names() -> list[tuple[str, str, object]]:
    """(name, column, value or None), longest names first. A synonym is its column's alone: a column's
    own shortened name that another column uses as a synonym ("anomaly") is not registered."""
    synonyms = {name: column for column, names in SYNONYMS.items() for name in names}
    names = {(name, column, None) for name, column in synonyms.items()}
    for column in dict.fromkeys((*MEASURES, *PREDICTED_CATEGORICAL, *VIEW_COLUMNS)):
        words = column.split("_")
        short = list(words)
        while short and short[0] in LEADING:
            short.pop(0)
        while len(short) > 1 and short[-1] in TRAILING:
            short.pop()
        for name in {" ".join(words), " ".join(short)} - set(synonyms):
            names.add((name.lower(), column, None))
        contract = BY_NAME.get(column)
        for value in (contract.allowed or ()) if contract else ():
            if len(value) >= 4 and value != "Other":
                names.add((value.lower(), column, value))
        for value, spoken in VALUE_WORDS.get(column, {}).items():
            names.update((name, column, value) for name in spoken)
    return sorted(names, key=lambda entry: (-len(entry[0]), entry[0], entry[1], str(entry[2])))


def mentions(text: str) -> list[Mention]:
    """The columns and values `text` names, in the order it names them (overlaps: the longest wins)."""
    found: list[Mention] = []
    for name, column, value in _names():
        for match in re.finditer(rf"(?<![\w-]){re.escape(name)}(?:s|es)?(?![\w-])", text):
            if any(match.start() < m.end and m.start < match.end() for m in found):
                continue
            found.append(Mention(match.start(), match.end(), column, value))
    return sorted(found, key=lambda m: m.start)


def columns_named(text: str) -> list[str]:
    """The columns `text` names, in the order it names them (overlaps: the longest name wins)."""
    return list(dict.fromkeys(m.column for m in mentions(text)))


def numeric_named(text: str) -> list[str]:
    return [c for c in columns_named(text) if c in NUMERIC and c != ENGAGEMENT]


def categorical_named(text: str) -> list[str]:
    return [c for c in columns_named(text) if c in CATEGORICAL or c in PREDICTED_CATEGORICAL]


def words(column: str) -> str:
    return column.replace("_", " ")
