"""SQL as a capable model writes it for the assistant's questions (Trino: CTEs, window functions,
approx_percentile, CASE buckets, TRY_CAST, quoted identifiers, UNION ALL, ORDER BY … LIMIT, date
arithmetic), each with the same answer computed by polars from the view's rows.

Each case: (sql, expected(frame) -> rows, how the rows compare). "ordered": row by row as returned;
"any order": as sets of rows; "approx": ordered, numbers within 3% (approx_percentile is a sketch).
"""

import math
from collections.abc import Callable

import polars as pl

V = "engagement_analytics.assistant_customers"
Expected = Callable[[pl.DataFrame], list[tuple]]


def by(frame: pl.DataFrame, key, *aggregations, sort=None, descending=False, limit=None) -> list[tuple]:
    out = frame.group_by(key).agg(*aggregations)
    out = out.sort(sort or key, descending=descending, nulls_last=True)
    return out.head(limit).rows() if limit else out.rows()


def flag(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.Float64)


def one(*expressions: pl.Expr) -> Expected:
    return lambda f: [tuple(f.select(*expressions).row(0))]


def buckets(column: str, edges: list[float], labels: list[str]) -> pl.Expr:
    expression = pl.lit(labels[-1])
    for edge, label in reversed(list(zip(edges, labels))):
        expression = pl.when(pl.col(column) < edge).then(pl.lit(label)).otherwise(expression)
    return expression


def ntile(column: str, n: int) -> pl.Expr:
    """Trino's ntile over the column's order: the first (rows % n) tiles hold one row more. Ties are
    broken by position in both engines alike only when the column has none; cases use tie-free columns."""
    rank = pl.col(column).rank("ordinal") - 1
    rows = pl.len()
    size, extra = rows // n, rows % n
    return pl.when(rank < extra * (size + 1)).then(rank // (size + 1)).otherwise(
        extra + (rank - extra * (size + 1)) // size) + 1


CASES: list[tuple[str, Expected, str]] = [
    # plain aggregates
    (f"SELECT count(*) AS customers FROM {V}", one(pl.len()), "ordered"),
    (f"SELECT avg(engagement_score) AS mean_engagement FROM {V}", one(pl.col("engagement_score").mean()), "ordered"),
    (f"SELECT min(lifetime_value_usd), max(lifetime_value_usd) FROM {V}",
     one(pl.col("lifetime_value_usd").min().alias("low"), pl.col("lifetime_value_usd").max().alias("high")),
     "ordered"),
    (f"SELECT sum(transaction_revenue_month) AS revenue FROM {V}", one(pl.col("transaction_revenue_month").sum()),
     "ordered"),
    (f"SELECT stddev(avg_session_duration_min) FROM {V}", one(pl.col("avg_session_duration_min").std()), "ordered"),
    (f"SELECT corr(trust_score, lifetime_value_usd) AS r FROM {V}",
     one(pl.corr("trust_score", "lifetime_value_usd")), "ordered"),
    (f"SELECT avg(CASE WHEN churn_30_day THEN 1.0 ELSE 0.0 END) AS churn_rate FROM {V}",
     one(flag("churn_30_day").mean()), "ordered"),
    (f"SELECT count_if(anomaly_flag) AS anomalies FROM {V}", one(pl.col("anomaly_flag").sum()), "ordered"),
    (f"SELECT count(*) FILTER (WHERE account_type = 'premium') * 1.0 / count(*) AS premium_share FROM {V}",
     one((pl.col("account_type") == "premium").mean()), "ordered"),
    (f"SELECT approx_percentile(lifetime_value_usd, 0.9) AS p90 FROM {V}",
     one(pl.col("lifetime_value_usd").quantile(0.9)), "approx"),
    (f"SELECT approx_percentile(avg_session_duration_min, 0.5) AS median_session FROM {V} "
     "WHERE device_type = 'mobile'",
     lambda f: [(f.filter(pl.col("device_type") == "mobile")["avg_session_duration_min"].median(),)], "approx"),
    (f"SELECT count(DISTINCT location) AS states FROM {V}", one(pl.col("location").n_unique()), "ordered"),
    (f"SELECT avg(TRY_CAST(peak_activity_hour AS double)) AS mean_hour FROM {V}",
     one(pl.col("peak_activity_hour").cast(pl.Float64).mean()), "ordered"),
    (f"SELECT round(avg(churn_probability), 4) AS p FROM {V} WHERE churn_flag",
     lambda f: [(round(f.filter(pl.col("churn_flag"))["churn_probability"].mean(), 4),)], "ordered"),
    (f'SELECT avg("engagement_score") AS "Mean engagement" FROM {V} WHERE "account_type" = \'free\'',
     lambda f: [(f.filter(pl.col("account_type") == "free")["engagement_score"].mean(),)], "ordered"),
    # groups
    (f"SELECT device_type, avg(engagement_score) AS e FROM {V} GROUP BY device_type ORDER BY device_type",
     lambda f: by(f, "device_type", pl.col("engagement_score").mean()), "ordered"),
    (f"SELECT account_type, count(*) AS n, avg(lifetime_value_usd) AS ltv FROM {V} GROUP BY 1 ORDER BY 1",
     lambda f: by(f, "account_type", pl.len(), pl.col("lifetime_value_usd").mean()), "ordered"),
    (f"SELECT age_band, avg(CASE WHEN churn_30_day THEN 1.0 ELSE 0.0 END) AS churn_rate FROM {V} "
     "GROUP BY age_band ORDER BY churn_rate DESC",
     lambda f: by(f, "age_band", flag("churn_30_day").mean(), sort="churn_30_day", descending=True), "ordered"),
    (f"SELECT location, avg(transaction_revenue_month) AS revenue FROM {V} GROUP BY location "
     "ORDER BY revenue DESC LIMIT 5",
     lambda f: by(f, "location", pl.col("transaction_revenue_month").mean(), sort="transaction_revenue_month",
                  descending=True, limit=5), "ordered"),
    (f"SELECT segment_name, count(*) AS customers FROM {V} GROUP BY segment_name ORDER BY customers DESC, "
     "segment_name",
     lambda f: sorted(f.group_by("segment_name").len().rows(), key=lambda r: (-r[1], r[0])), "ordered"),
    (f"SELECT gender, stddev(trust_score) AS sd FROM {V} GROUP BY gender",
     lambda f: by(f, "gender", pl.col("trust_score").std()), "any order"),
    (f"SELECT time_of_day_active, max(days_since_last_login) AS longest FROM {V} GROUP BY time_of_day_active",
     lambda f: by(f, "time_of_day_active", pl.col("days_since_last_login").max()), "any order"),
    (f"SELECT churn_30_day, avg(lifetime_value_usd) AS ltv FROM {V} GROUP BY churn_30_day",
     lambda f: by(f, "churn_30_day", pl.col("lifetime_value_usd").mean()), "any order"),
    (f"SELECT device_type, account_type, count(*) AS n FROM {V} GROUP BY device_type, account_type "
     "ORDER BY device_type, account_type",
     lambda f: by(f, ["device_type", "account_type"], pl.len()), "ordered"),
    (f"SELECT content_category_primary, avg(content_virality_score) AS virality FROM {V} "
     "GROUP BY content_category_primary HAVING count(*) >= 100 ORDER BY virality DESC",
     lambda f: [r[:2] for r in by(f, "content_category_primary", pl.col("content_virality_score").mean(),
                                  pl.len().alias("n"), sort="content_virality_score", descending=True) if r[2] >= 100],
     "ordered"),
    (f"SELECT social_influence_tier, approx_percentile(total_connections, 0.5) AS median_connections FROM {V} "
     "GROUP BY social_influence_tier ORDER BY social_influence_tier",
     lambda f: by(f, "social_influence_tier", pl.col("total_connections").median()), "approx"),
    (f"SELECT churn_risk_tier, count(*) AS n, avg(engagement_score) AS e FROM {V} GROUP BY churn_risk_tier "
     "ORDER BY n DESC",
     lambda f: by(f, "churn_risk_tier", pl.len(), pl.col("engagement_score").mean(), sort="len", descending=True),
     "ordered"),
    (f"SELECT predicted_engagement_category, avg(engagement_score) AS actual FROM {V} "
     "GROUP BY predicted_engagement_category",
     lambda f: by(f, "predicted_engagement_category", pl.col("engagement_score").mean()), "any order"),
    (f"SELECT account_type, corr(avg_daily_logins, engagement_score) AS r FROM {V} GROUP BY account_type",
     lambda f: by(f, "account_type", pl.corr("avg_daily_logins", "engagement_score")), "any order"),
    (f"SELECT device_type, sum(referral_count) AS referrals FROM {V} WHERE account_type = 'premium' "
     "GROUP BY device_type ORDER BY referrals DESC",
     lambda f: by(f.filter(pl.col("account_type") == "premium"), "device_type", pl.col("referral_count").sum(),
                  sort="referral_count", descending=True), "ordered"),
    # CASE buckets
    (f"SELECT CASE WHEN engagement_score < 0.33 THEN 'low' WHEN engagement_score < 0.66 THEN 'medium' "
     f"ELSE 'high' END AS band, count(*) AS n FROM {V} GROUP BY 1",
     lambda f: by(f.with_columns(band=buckets("engagement_score", [0.33, 0.66], ["low", "medium", "high"])),
                  "band", pl.len()), "any order"),
    (f"SELECT CASE WHEN trust_score >= 0.5 THEN 'trusted' ELSE 'other' END AS trust, "
     f"avg(CASE WHEN churn_30_day THEN 1.0 ELSE 0.0 END) AS churn_rate FROM {V} GROUP BY 1",
     lambda f: by(f.with_columns(trust=pl.when(pl.col("trust_score") >= 0.5).then(pl.lit("trusted"))
                                 .otherwise(pl.lit("other"))), "trust", flag("churn_30_day").mean()), "any order"),
    (f"SELECT CASE WHEN days_since_last_login >= 7 THEN 'inactive' ELSE 'active' END AS status, count(*) AS n, "
     f"avg(lifetime_value_usd) AS ltv FROM {V} GROUP BY 1 ORDER BY 1",
     lambda f: by(f.with_columns(status=pl.when(pl.col("days_since_last_login") >= 7).then(pl.lit("inactive"))
                                 .otherwise(pl.lit("active"))), "status", pl.len(),
                  pl.col("lifetime_value_usd").mean()), "ordered"),
    (f"SELECT CASE WHEN avg_daily_logins < 1 THEN '<1' WHEN avg_daily_logins < 3 THEN '1-3' ELSE '3+' END AS logins, "
     f"avg(engagement_score) AS e FROM {V} GROUP BY 1",
     lambda f: by(f.with_columns(logins=buckets("avg_daily_logins", [1, 3], ["<1", "1-3", "3+"])), "logins",
                  pl.col("engagement_score").mean()), "any order"),
    # CTEs
    (f"WITH premium AS (SELECT * FROM {V} WHERE account_type = 'premium') "
     "SELECT device_type, avg(engagement_score) AS e FROM premium GROUP BY device_type",
     lambda f: by(f.filter(pl.col("account_type") == "premium"), "device_type", pl.col("engagement_score").mean()),
     "any order"),
    (f"WITH by_state AS (SELECT location, avg(lifetime_value_usd) AS ltv, count(*) AS n FROM {V} "
     "GROUP BY location) SELECT location, ltv FROM by_state ORDER BY ltv DESC LIMIT 3",
     lambda f: by(f, "location", pl.col("lifetime_value_usd").mean(), sort="lifetime_value_usd", descending=True,
                  limit=3), "ordered"),
    (f"WITH churned AS (SELECT lifetime_value_usd FROM {V} WHERE churn_30_day), "
     f"kept AS (SELECT lifetime_value_usd FROM {V} WHERE NOT churn_30_day) "
     "SELECT (SELECT avg(lifetime_value_usd) FROM churned) AS churned_ltv, "
     "(SELECT avg(lifetime_value_usd) FROM kept) AS retained_ltv",
     lambda f: [(f.filter(pl.col("churn_30_day"))["lifetime_value_usd"].mean(),
                 f.filter(~pl.col("churn_30_day"))["lifetime_value_usd"].mean())], "ordered"),
    (f"WITH scored AS (SELECT segment_name, churn_probability FROM {V} WHERE churn_probability IS NOT NULL) "
     "SELECT segment_name, avg(churn_probability) AS p FROM scored GROUP BY segment_name ORDER BY p DESC",
     lambda f: by(f, "segment_name", pl.col("churn_probability").mean(), sort="churn_probability",
                  descending=True), "ordered"),
    (f"WITH g AS (SELECT device_type, avg(engagement_score) AS e FROM {V} GROUP BY device_type) "
     "SELECT max(e) - min(e) AS gap FROM g",
     lambda f: [(lambda g: (g.max() - g.min(),))(f.group_by("device_type").agg(pl.col("engagement_score").mean())
                                                 ["engagement_score"])], "ordered"),
    # window functions
    (f"SELECT location, avg(engagement_score) AS e, rank() OVER (ORDER BY avg(engagement_score) DESC) AS r "
     f"FROM {V} GROUP BY location ORDER BY r LIMIT 5",
     lambda f: [(*row, i + 1) for i, row in enumerate(by(f, "location", pl.col("engagement_score").mean(),
                                                         sort="engagement_score", descending=True, limit=5))],
     "ordered"),
    (f"SELECT device_type, count(*) AS n, count(*) * 1.0 / sum(count(*)) OVER () AS share FROM {V} "
     "GROUP BY device_type ORDER BY device_type",
     lambda f: [(d, n, n / f.height) for d, n in by(f, "device_type", pl.len())], "ordered"),
    (f"SELECT quartile, avg(engagement_score) AS e FROM (SELECT engagement_score, "
     f"ntile(4) OVER (ORDER BY lifetime_value_usd) AS quartile FROM {V}) GROUP BY quartile ORDER BY quartile",
     lambda f: by(f.with_columns(quartile=ntile("lifetime_value_usd", 4)), "quartile",
                  pl.col("engagement_score").mean()), "ordered"),
    (f"SELECT decile, min(trust_score) AS low, max(trust_score) AS high FROM (SELECT trust_score, "
     f"ntile(10) OVER (ORDER BY trust_score) AS decile FROM {V}) GROUP BY decile ORDER BY decile",
     lambda f: by(f.with_columns(decile=ntile("trust_score", 10)), "decile", pl.col("trust_score").min().alias("low"),
                  pl.col("trust_score").max().alias("high")), "ordered"),
    (f"SELECT account_type, avg(lifetime_value_usd) AS ltv, avg(lifetime_value_usd) - "
     f"avg(avg(lifetime_value_usd)) OVER () AS above_mean_of_groups FROM {V} GROUP BY account_type "
     "ORDER BY account_type",
     lambda f: (lambda g: [(a, v, v - sum(x for _, x in g) / len(g)) for a, v in g])(
         by(f, "account_type", pl.col("lifetime_value_usd").mean())), "ordered"),
    (f"WITH ranked AS (SELECT segment_name, engagement_score, row_number() OVER (PARTITION BY segment_name "
     f"ORDER BY engagement_score DESC, lifetime_value_usd DESC) AS position FROM {V}) "
     "SELECT segment_name, avg(engagement_score) AS top_100_mean FROM ranked WHERE position <= 100 "
     "GROUP BY segment_name ORDER BY segment_name",
     lambda f: by(f.sort(["engagement_score", "lifetime_value_usd"], descending=True).group_by(
         "segment_name", maintain_order=True).head(100), "segment_name", pl.col("engagement_score").mean()),
     "ordered"),
    (f"SELECT age_band, e, e - lag(e) OVER (ORDER BY age_band) AS change FROM (SELECT age_band, "
     f"avg(engagement_score) AS e FROM {V} GROUP BY age_band) ORDER BY age_band",
     lambda f: (lambda g: [(a, e, None if i == 0 else e - g[i - 1][1]) for i, (a, e) in enumerate(g)])(
         by(f, "age_band", pl.col("engagement_score").mean())), "ordered"),
    # UNION ALL
    (f"SELECT 'churned' AS grp, avg(avg_daily_logins) AS logins FROM {V} WHERE churn_30_day UNION ALL "
     f"SELECT 'retained', avg(avg_daily_logins) FROM {V} WHERE NOT churn_30_day",
     lambda f: [("churned", f.filter(pl.col("churn_30_day"))["avg_daily_logins"].mean()),
                ("retained", f.filter(~pl.col("churn_30_day"))["avg_daily_logins"].mean())], "any order"),
    (f"SELECT 'mean' AS statistic, avg(trust_score) AS value FROM {V} UNION ALL "
     f"SELECT 'max', max(trust_score) FROM {V} UNION ALL SELECT 'min', min(trust_score) FROM {V}",
     lambda f: [("mean", f["trust_score"].mean()), ("max", f["trust_score"].max()),
                ("min", f["trust_score"].min())], "any order"),
    (f"SELECT 'mobile' AS device, count(*) AS n FROM {V} WHERE device_type = 'mobile' UNION ALL "
     f"SELECT 'other', count(*) FROM {V} WHERE device_type <> 'mobile'",
     lambda f: [("mobile", f.filter(pl.col("device_type") == "mobile").height),
                ("other", f.filter(pl.col("device_type") != "mobile").height)], "any order"),
    # filters, IN, BETWEEN, LIKE, COALESCE, arithmetic
    (f"SELECT device_type, avg(engagement_score) AS e FROM {V} WHERE device_type IN ('mobile', 'desktop') "
     "GROUP BY device_type",
     lambda f: by(f.filter(pl.col("device_type").is_in(["mobile", "desktop"])), "device_type",
                  pl.col("engagement_score").mean()), "any order"),
    (f"SELECT count(*) FROM {V} WHERE trust_score BETWEEN 0.4 AND 0.6",
     lambda f: [(f.filter(pl.col("trust_score").is_between(0.4, 0.6)).height,)], "ordered"),
    (f"SELECT avg(engagement_score) FROM {V} WHERE segment_name LIKE '%Power%'",
     lambda f: [(f.filter(pl.col("segment_name").str.contains("Power"))["engagement_score"].mean(),)], "ordered"),
    (f"SELECT avg(coalesce(avg_job_completion_rating, 0)) AS rating FROM {V}",
     one(pl.col("avg_job_completion_rating").fill_null(0).mean()), "ordered"),
    (f"SELECT avg(transaction_revenue_month * 12) AS yearly_revenue FROM {V} WHERE account_type = 'premium'",
     lambda f: [((f.filter(pl.col("account_type") == "premium")["transaction_revenue_month"] * 12).mean(),)],
     "ordered"),
    (f"SELECT count(*) FROM {V} WHERE avg_daily_logins > 3 AND days_since_last_login <= 2 AND NOT churn_30_day",
     lambda f: [(f.filter((pl.col("avg_daily_logins") > 3) & (pl.col("days_since_last_login") <= 2)
                          & ~pl.col("churn_30_day")).height,)], "ordered"),
    (f"SELECT avg(ln(1 + total_connections)) AS log_connections FROM {V}",
     one((pl.col("total_connections") + 1).log().mean()), "ordered"),
    (f"SELECT location, count(*) AS n FROM {V} GROUP BY location HAVING avg(engagement_score) > 0.5 "
     "ORDER BY location",
     lambda f: [(loc, n) for loc, n, e in by(f, "location", pl.len(), pl.col("engagement_score").mean()) if e > 0.5],
     "ordered"),
    (f"SELECT greatest(max(ltv_p90_usd), max(ltv_p50_usd)) AS top_ltv FROM {V}",
     one(pl.max_horizontal(pl.col("ltv_p90_usd").max(), pl.col("ltv_p50_usd").max())), "ordered"),
    # date arithmetic (tenure in days as a date)
    (f"SELECT count(*) FROM {V} WHERE date_add('day', -time_since_first_transaction_days, DATE '2026-12-01') "
     ">= DATE '2026-06-01'",
     lambda f: [(f.filter(pl.col("time_since_first_transaction_days") <= 183).height,)], "ordered"),
    (f"SELECT avg(date_diff('day', date_add('day', -time_since_first_transaction_days, DATE '2026-12-01'), "
     f"DATE '2026-12-01')) AS tenure FROM {V}",
     one(pl.col("time_since_first_transaction_days").mean()), "ordered"),
    (f"SELECT year(date_add('day', -time_since_first_transaction_days, DATE '2026-12-01')) AS first_year, "
     f"count(*) AS n FROM {V} GROUP BY 1 ORDER BY 1",
     lambda f: by(f.with_columns(first_year=(pl.lit("2026-12-01").str.to_date() - pl.duration(
         days=pl.col("time_since_first_transaction_days"))).dt.year()), "first_year", pl.len()), "ordered"),
]


def same(actual: list[tuple], expected: list[tuple], how: str) -> bool:
    if how == "any order":
        actual, expected = sorted(actual, key=repr), sorted(expected, key=repr)
    return len(actual) == len(expected) and all(
        len(a) >= len(e) and all(_value_equal(x, y, how) for x, y in zip(a, e)) for a, e in zip(actual, expected))


def _value_equal(actual, expected, how: str) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool) or isinstance(expected, str) or expected is None:
        return actual == expected or (actual is None and expected is None)
    if actual is None:
        return False
    tolerance = 0.03 if how == "approx" else 1e-9
    return math.isclose(float(actual), float(expected), rel_tol=tolerance, abs_tol=1e-9)
