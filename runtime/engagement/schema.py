"""The schema contract for customer data: the one place that states what each column is.

Everything else derives from it: the raw Glue table in the CDK app, ingest validation, the
synthetic generator's output types, `docs/data_dictionary.md`, and the knowledge-base documents.
Columns are listed in file order (the CSV header the platform expects).
"""

from dataclasses import dataclass
from enum import StrEnum


class ColumnType(StrEnum):
    STRING = "string"
    INT = "int"
    DOUBLE = "double"
    BOOLEAN = "boolean"
    DATE = "date"


class Pii(StrEnum):
    """How a column identifies a person. Anything but NONE is tokenized at ingest and never
    leaves the raw layer in clear."""

    NONE = "none"
    DIRECT = "direct"  # identifies a person on its own (name, email)
    QUASI = "quasi"  # identifies in combination with other columns (exact signup date)


class Role(StrEnum):
    ID = "id"
    FEATURE = "feature"
    TARGET = "target"  # a label: never a model input
    PII = "pii"


@dataclass(frozen=True, kw_only=True)
class Column:
    name: str
    type: ColumnType
    description: str
    role: Role = Role.FEATURE
    nullable: bool = False
    minimum: float | None = None
    maximum: float | None = None
    allowed: tuple[str, ...] | None = None
    pii: Pii = Pii.NONE
    protected: bool = False  # a protected attribute: used to measure fairness, never as a model input
    unit: str | None = None

    @property
    def token_name(self) -> str:
        return f"{self.name}_token"


US_STATES = (
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN", "IA",
    "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM",
    "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA",
    "WV", "WI", "WY",
)  # fmt: skip
CONTENT_CATEGORIES = (
    "tech", "food", "travel", "fitness", "fashion", "gaming",
    "music", "art", "sports", "business", "education", "lifestyle",
)  # fmt: skip
GENDERS = ("M", "F", "Other")
ACCOUNT_TYPES = ("free", "premium")
DEVICE_TYPES = ("mobile", "desktop", "tablet")
TIMES_OF_DAY = ("morning", "afternoon", "evening", "night")
INFLUENCE_TIERS = ("micro", "mid", "macro", "mega")
INFLUENCE_TIER_THRESHOLDS = (100, 1_000, 10_000)  # total_connections at which each next tier starts
MAX_CONTENT_ENTROPY_BITS = 3.585  # log2(12): all 12 categories equally


def _c(name: str, type_: ColumnType, description: str, **kwargs) -> Column:
    return Column(name=name, type=type_, description=description, **kwargs)


S, I, D, B, DT = ColumnType.STRING, ColumnType.INT, ColumnType.DOUBLE, ColumnType.BOOLEAN, ColumnType.DATE

COLUMNS: tuple[Column, ...] = (
    _c("customer_id", S, "Pseudonymous customer identifier (CUST-nnnnnnnn); the join key everywhere.", role=Role.ID),
    _c("full_name", S, "Customer's name. Raw layer only; tokenized at ingest.", role=Role.PII, pii=Pii.DIRECT),
    _c("email", S, "Customer's email address. Raw layer only; tokenized at ingest.", role=Role.PII, pii=Pii.DIRECT),
    _c("signup_date", DT, "Date the account was created. Raw layer only; tokenized at ingest.",
       role=Role.PII, pii=Pii.QUASI),
    _c("age", I, "Age in years. Enters models only as an age band; fairness is measured by band.",
       minimum=18, maximum=65, protected=True, unit="years"),
    _c("gender", S, "Self-reported gender. Never a model input; used only to measure fairness.",
       allowed=GENDERS, protected=True),
    _c("location", S, "US state (two-letter code). Audited as a possible proxy for protected classes.",
       allowed=US_STATES),
    _c("account_type", S, "Subscription tier.", allowed=ACCOUNT_TYPES),
    _c("avg_daily_logins", D, "Average logins per day over the last 30 days.", minimum=0, maximum=100, unit="logins/day"),
    _c("avg_session_duration_min", D, "Average session length.", minimum=0, maximum=600, unit="minutes"),
    _c("num_messages_sent_per_day", D, "Average direct messages sent per day.", minimum=0, maximum=2000,
       unit="messages/day"),
    _c("num_events_joined_month", I, "Community events joined in the last 30 days.", minimum=0, maximum=200),
    _c("num_new_connections_month", I, "New connections made in the last 30 days.", minimum=0, maximum=5000),
    _c("influencer_follow_score", D, "Share of followed accounts that are influencers (0-1).", minimum=0, maximum=1),
    _c("days_since_last_login", I, "Days since the most recent login (recency).", minimum=0, maximum=3650, unit="days"),
    _c("churn_risk_score", D, "Legacy rule-based churn heuristic (0-1), computed before this platform. Noisy; "
       "not the churn label.", minimum=0, maximum=1),
    _c("avg_reactions_per_post", D, "Average likes/reactions received per post.", minimum=0, maximum=100000),
    _c("avg_comments_per_post", D, "Average comments received per post.", minimum=0, maximum=10000),
    _c("content_posts_per_week", I, "Posts and stories published per week.", minimum=0, maximum=500),
    _c("avg_scroll_depth_pct", D, "Average depth scrolled into the feed per session.", minimum=0, maximum=100,
       unit="percent"),
    _c("notification_click_rate", D, "Share of push notifications opened (0-1).", minimum=0, maximum=1),
    _c("device_type", S, "Device used most.", allowed=DEVICE_TYPES),
    _c("time_of_day_active", S, "Part of the day with the most activity.", allowed=TIMES_OF_DAY),
    _c("friend_group_participation_score", D, "Participation in group chats and friend circles (0-1).",
       minimum=0, maximum=1),
    _c("premium_feature_usage_rate", D, "Share of sessions that use a premium feature (0-1).", minimum=0, maximum=1),
    _c("avg_ads_engagement_rate", D, "Ad click-through rate (0-1).", minimum=0, maximum=1),
    _c("social_influence_score", D, "Reach of the customer's posts relative to their network (0-1).",
       minimum=0, maximum=1),
    _c("match_success_rate", D, "Dating: swipes that became matches (0-1).", minimum=0, maximum=1),
    _c("profile_views_received_week", I, "Profile views received per week.", minimum=0, maximum=1000000),
    _c("gig_applications_sent_month", I, "Freelance: gig applications sent in the last 30 days (buyer activity).",
       minimum=0, maximum=1000),
    _c("gig_listings_active", I, "Freelance: active gig listings (seller activity).", minimum=0, maximum=200),
    _c("transaction_revenue_month", D, "Freelance: revenue earned from gigs in the last 30 days.",
       minimum=0, maximum=1000000, unit="USD"),
    _c("content_virality_score", D, "Shares per unit of reach of the customer's posts (0-1).", minimum=0, maximum=1),
    _c("swipe_like_ratio", D, "Dating: right swipes over all swipes (0-1).", minimum=0, maximum=1),
    _c("avg_job_completion_rating", D, "Freelance: average rating of completed gigs (1-5); empty when the customer "
       "has completed none.", minimum=1, maximum=5, nullable=True),
    _c("total_connections", I, "Cumulative network size (power-law: a few super-connectors).", minimum=0,
       maximum=10000000),
    _c("engagement_score", D, "TARGET: daily active engagement (0-1).", role=Role.TARGET, minimum=0, maximum=1),
    _c("churn_30_day", B, "TARGET: the customer churned within the following 30 days.", role=Role.TARGET),
    _c("lifetime_value_usd", D, "TARGET: customer lifetime value.", role=Role.TARGET, minimum=0, maximum=10000000,
       unit="USD"),
    _c("avg_sentiment_score", D, "Average sentiment of messages and posts (-1 to 1).", minimum=-1, maximum=1),
    _c("content_category_primary", S, "TARGET: primary content interest.", role=Role.TARGET,
       allowed=CONTENT_CATEGORIES),
    _c("network_centrality", D, "Eigenvector centrality in the social graph, scaled so the most central "
       "customer is 1.", minimum=0, maximum=1),
    _c("time_since_first_transaction_days", I, "Freelance: days since the first gig transaction; empty when the "
       "customer has none.", minimum=0, maximum=3650, nullable=True, unit="days"),
    _c("response_time_avg_hours", D, "Average time to answer a message or gig request.", minimum=0, maximum=720,
       unit="hours"),
    _c("peak_activity_hour", I, "Hour of the day with the most activity (0-23).", minimum=0, maximum=23),
    _c("content_diversity_score", D, "Shannon entropy (bits) of the content categories consumed; 0 = one "
       "category, 3.585 = all 12 equally.", minimum=0, maximum=MAX_CONTENT_ENTROPY_BITS),
    _c("referral_count", I, "Customers this customer referred.", minimum=0, maximum=10000),
    _c("session_consistency_score", D, "Regularity of login times (0-1).", minimum=0, maximum=1),
    _c("premium_features_used_count", I, "Distinct premium features used.", minimum=0, maximum=10),
    _c("last_7_day_engagement_trend", D, "Slope of daily activity over the last 7 days (per day, -1 to 1).",
       minimum=-1, maximum=1),
    _c("social_influence_tier", S, "Influencer tier by network size (total_connections): micro < 100 <= mid "
       "< 1,000 <= macro < 10,000 <= mega.", allowed=INFLUENCE_TIERS),
    _c("trust_score", D, "Trust and reputation (0-1) from ratings, reports and verification.", minimum=0, maximum=1),
)

BY_NAME = {column.name: column for column in COLUMNS}
COLUMN_NAMES = tuple(column.name for column in COLUMNS)
ID_COLUMN = "customer_id"
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"  # what Ingest accepts as an id, and what /predict looks up
PII_COLUMNS = tuple(c.name for c in COLUMNS if c.pii is not Pii.NONE)
TARGET_COLUMNS = tuple(c.name for c in COLUMNS if c.role is Role.TARGET)
PROTECTED_COLUMNS = tuple(c.name for c in COLUMNS if c.protected)
FEATURE_COLUMNS = tuple(c.name for c in COLUMNS if c.role is Role.FEATURE)


AGE_BAND = "age_band"  # all that analytics sees of age (sql/customer_features.sql, sql/final_results.sql)


def deidentified_columns() -> dict[str, ColumnType]:
    """The measures of the pseudonymised customer-features view: every feature and every label, age
    replaced by its band (sql/customer_features.sql; the view adds the customer id and run id)."""
    measures = {name: BY_NAME[name].type for name in (*FEATURE_COLUMNS, *TARGET_COLUMNS)}
    return {(AGE_BAND if name == "age" else name): (ColumnType.STRING if name == "age" else type_)
            for name, type_ in measures.items()}


def bronze_columns() -> tuple[tuple[str, ColumnType], ...]:
    """Columns of the bronze (validated) layer: PII replaced by keyed tokens, all else as typed."""
    return tuple(
        (column.token_name, ColumnType.STRING) if column.pii is not Pii.NONE else (column.name, column.type)
        for column in COLUMNS
    )


# Glue/Athena types. Integers are 64-bit in the Parquet files, so they are bigint in the catalog.
GLUE_TYPES = {
    ColumnType.STRING: "string",
    ColumnType.INT: "bigint",
    ColumnType.DOUBLE: "double",
    ColumnType.BOOLEAN: "boolean",
    ColumnType.DATE: "date",
}


def raw_glue_columns() -> tuple[tuple[str, str, str], ...]:
    """(name, type, comment) of the raw CSV table: every column as uploaded text.

    Athena's CSV reader cannot read empty numeric fields or YYYY-MM-DD dates as typed values,
    and raw files are unvalidated anyway; typed access is the bronze table's job.
    """
    return tuple((c.name, "string", c.description) for c in COLUMNS)


def bronze_glue_columns() -> tuple[tuple[str, str, str], ...]:
    """(name, type, comment) of the bronze Parquet table written by ingest."""
    comments = {c.name: c.description for c in COLUMNS} | {
        c.token_name: f"HMAC-SHA256 token of {c.name} (keyed, irreversible)" for c in COLUMNS if c.pii is not Pii.NONE
    }
    return tuple((name, GLUE_TYPES[type_], comments[name]) for name, type_ in bronze_columns())
