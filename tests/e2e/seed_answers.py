"""What each of the seed's 40 answers must say, computed independently (polars) from the published
run's own files: the customer-features and results Parquet the views read, the training and
inference summaries the knowledge base and what-if tools report from."""

import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from engagement.assistant_tools import MIN_GROUP_SIZE
from planner.intents import TIE_BROKEN
from planner.seed_questions import SEED_QUESTIONS


@dataclass
class Published:
    features: pl.DataFrame
    results: pl.DataFrame
    training: dict
    inference: dict
    ingest: dict


def read_published(s3, buckets, run_id: str) -> Published:
    def frame(bucket: str, prefix: str) -> pl.DataFrame:
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]]
        return pl.concat([pl.read_parquet(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
                          for key in keys if not key.endswith("/")])

    def document(bucket: str, key: str) -> dict:
        return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    return Published(
        features=frame(buckets.results, f"customer_features/run_id={run_id}/"),
        results=frame(buckets.results, f"final_results/run_id={run_id}/"),
        training=document(buckets.processed, f"runs/{run_id}/training_summary.json"),
        inference=document(buckets.processed, f"runs/{run_id}/inference_summary.json"),
        ingest=document(buckets.processed, f"runs/{run_id}/ingest_report.json"))


def numbers(text: str) -> list[float]:
    body = re.split(r"\n\n(?:Computed by|Source):", text)[0]
    return [float(n.replace(",", "")) for n in re.findall(r"-?\d[\d,]*\.?\d*", body)]


def close(text: str, expected: float) -> bool:
    return any(abs(n - expected) <= max(0.0051, abs(expected) * 0.006) for n in numbers(text))


def line_of(answer: str, start: str) -> str:
    return next(line for line in answer.splitlines() if line.startswith(start))


# --- checks, one kind per intent -----------------------------------------------------------------------

Check = Callable[[str, Published], None]


def compare(column: str, values: tuple[str, ...] | None = None) -> Check:
    """Mean engagement by the column, of the values the question names (all when it names none)."""
    def check(answer: str, data: Published) -> None:
        named = data.features.filter(pl.col(column).is_in(values)) if values else data.features
        groups = named.group_by(column).agg(pl.col("engagement_score").mean(), pl.len())
        assert len([line for line in answer.splitlines() if line.startswith("- ")]) <= groups.height, answer
        for group, mean, count in groups.iter_rows():
            if count < MIN_GROUP_SIZE:  # suppressed, and said so
                assert f"- {group}:" not in answer and "of too few customers to report left out" in answer
                continue
            line = line_of(answer, f"- {group}:")
            assert close(line, mean) and f"{count:,} customers" in line, (line, mean, count)
    return check


def correlation(first: str, second: str = "engagement_score", within: pl.Expr | None = None) -> Check:
    def check(answer: str, data: Published) -> None:
        assert close(answer, data.features.select(pl.corr(first, second)).item()), answer
        if within is not None:
            selected = data.features.filter(within)
            assert close(answer, selected.select(pl.corr(first, second)).item()) and f"{selected.height:,}" in answer
    return check


def _first_line_means(answer: str, first: pl.DataFrame, second: pl.DataFrame) -> None:
    feature = re.search(r"^- ([a-z0-9 ]+): ", answer, re.MULTILINE).group(1)
    line = line_of(answer, f"- {feature}:")
    column = feature.replace(" ", "_")
    assert close(line, first[column].mean()) and close(line, second[column].mean()), (line, column)


def contrast(share: int, rest: bool = False, within: pl.Expr | None = None) -> Check:
    def check(answer: str, data: Published) -> None:
        base = data.features.filter(within) if within is not None else data.features
        ordered = base.sort(TIE_BROKEN.split(", "), nulls_last=True).with_row_index("position", offset=1)
        top = ordered.filter(pl.col("position") > ordered.height * (100 - share) / 100)
        bottom = ordered.filter(pl.col("position") <= (ordered.height * (100 - share) / 100 if rest
                                                       else ordered.height * share / 100))
        assert f"({top.height:,} customers)" in answer and f"({bottom.height:,})" in answer, answer
        _first_line_means(answer, top, bottom)
    return check


def churned_vs_retained(within: Callable[[Published], pl.Expr]) -> Check:
    def check(answer: str, data: Published) -> None:
        base = data.features.filter(within(data))
        retained, churned = base.filter(~pl.col("churn_30_day")), base.filter(pl.col("churn_30_day"))
        assert f"retained ({retained.height:,} customers) from churned in 30 days ({churned.height:,})" in answer
        _first_line_means(answer, retained, churned)
    return check


def high_churn_risk(data: Published) -> pl.Expr:
    high = data.results.filter(pl.col("churn_risk_tier") == "high")["customer_id"].to_list()
    return pl.col("customer_id").is_in(high)


def within_high_churn_risk(answer: str, data: Published) -> None:
    contrast(25, within=high_churn_risk(data))(answer, data)


def segments(answer: str, data: Published) -> None:
    for segment, count in data.results.group_by("segment_name").len().iter_rows():
        assert (f"{segment}: {count:,} customers" in answer) == (count >= MIN_GROUP_SIZE), segment


def churn_by(column: str) -> Check:
    def check(answer: str, data: Published) -> None:
        assert close(answer, data.features["churn_30_day"].mean()) and f"decile of {column.replace('_', ' ')}" in answer
    return check


def split(column: str, threshold: float) -> Check:
    def check(answer: str, data: Published) -> None:
        above = data.features.filter(pl.col(column) > threshold)
        line = line_of(answer, f"- {column} > {threshold:g}:")
        assert close(line, above["engagement_score"].mean()) and f"{above.height:,} customers" in line
    return check


def what_if(name: str) -> Check:
    def check(answer: str, data: Published) -> None:
        [scored] = [s for s in data.inference["what_if"] if s["name"] == name]
        assert f"{scored['customers_changed']:,} of {scored['customers']:,}" in answer
        assert close(answer, scored["mean_engagement_after"]) and close(answer, scored["engagement_change"])
        assert "\n\nSource: what-if scored by Inference with run " in answer and "inference_summary.json" in answer
    return check


def importance(end: str) -> Check:
    def check(answer: str, data: Published) -> None:
        ranked = data.training["explanations"]["global_importance_engagement"]
        expected = ranked[:5] if end == "top" else ranked[-5:]
        for entry in expected:
            assert f"{entry['feature']} ({entry['mean_abs_contribution']:.4f})" in answer, entry
    return check


def metrics(*names: str) -> Check:
    def check(answer: str, data: Published) -> None:
        engagement = data.training["metrics"]["engagement"]
        for name in names:
            assert str(engagement[name]) in answer, (name, engagement[name])
    return check


def data_quality(answer: str, data: Published) -> None:
    assert f"Rows received: {data.ingest['rows_in']:,}; accepted {data.ingest['rows_accepted']:,}" in answer


def all_statistics(answer: str, data: Published) -> None:
    for column in ("trust_score", "avg_daily_logins", "engagement_score"):
        line = line_of(answer, f"- {column.replace('_', ' ')}:")
        assert close(line, data.features[column].mean()) and close(line, data.features[column].max()), line


def statistics(column: str) -> Check:
    def check(answer: str, data: Published) -> None:
        values = data.features[column]
        assert close(answer, values.mean()) and close(answer, values.std()) and close(answer, values.max())
    return check


def quartiles(answer: str, data: Published) -> None:
    rows = data.features.height
    sizes = [rows // 4 + (1 if i < rows % 4 else 0) for i in range(4)]
    for number, size in enumerate(sizes, 1):
        assert re.search(rf"quartile {number}\b[^\n]*: {size:,} customers", answer), (number, size, answer)


INACTIVE = pl.col("days_since_last_login") >= 7
CHECKS: tuple[Check, ...] = (
    importance("top"), compare("account_type"), contrast(10), compare("time_of_day_active"),
    compare("device_type", ("mobile", "desktop")),
    correlation("match_success_rate"), correlation("content_posts_per_week"),
    correlation("social_influence_score", "avg_daily_logins"),
    contrast(25), contrast(25), correlation("premium_feature_usage_rate"), within_high_churn_risk,
    churned_vs_retained(lambda data: INACTIVE), correlation("notification_click_rate", within=INACTIVE),
    correlation("num_new_connections_month", "last_7_day_engagement_trend"),
    contrast(25, rest=True), segments, compare("age_band"), compare("location"), segments,
    split("gig_listings_active", 0), correlation("transaction_revenue_month"), correlation("content_virality_score"),
    correlation("friend_group_participation_score"), correlation("avg_job_completion_rating"),
    churn_by("engagement_score"), churn_by("days_since_last_login"),
    churned_vs_retained(lambda data: pl.col("engagement_score") < 0.3),
    churned_vs_retained(lambda data: pl.col("time_since_first_transaction_days") <= 30),
    what_if("premium_conversion"), what_if("notification_click_rate_up_20pct"),
    what_if("one_more_content_post_per_week"),
    metrics("r2", "rmse"), metrics("r2", "rmse"), importance("bottom"), metrics("training_r2", "r2"),
    all_statistics, data_quality, statistics("engagement_score"), quartiles,
)
QUESTIONS = tuple(question for questions in SEED_QUESTIONS.values() for question in questions)
assert len(QUESTIONS) == len(CHECKS) == 40
