"""The local planner plays the model in the real tool-use loop: questions map to intents, the
SQL runs (transpiled to DuckDB, as the local Athena runs it) and the answer's numbers are the
query's, checked here against an independent polars computation on the same rows."""

import re

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pytest
import sqlglot

import planner
import planner.intents
from engagement.assistant import Tool, ask
from datagen.generator import GeneratorConfig, generate
from engagement.assistant_tools import AthenaRunner, feature_stats_tool, query_athena_tool
from engagement.predictions_schema import ASSISTANT_PREDICTIONS
from engagement.schema import deidentified_columns

ROWS = 2_000


@pytest.fixture(scope="module")
def features() -> pl.DataFrame:
    """The customer-features view's rows: generated customers, de-identified as the view is."""
    [chunk] = generate(GeneratorConfig(rows=ROWS, seed=7))
    frame = pl.from_arrow(chunk.table)
    bands = pl.col("age").cut([24.5, 34.5, 44.5, 54.5], labels=["18-24", "25-34", "35-44", "45-54", "55+"])
    return frame.with_columns(age_band=bands.cast(pl.String)).select("customer_id", *deidentified_columns())


@pytest.fixture(scope="module")
def results(features) -> pl.DataFrame:
    rng = np.random.default_rng(7)
    engagement = features["engagement_score"].to_numpy()
    return pl.DataFrame({
        "customer_id": features["customer_id"],
        "device_type": features["device_type"],
        "segment_name": rng.choice(["Power users", "Casual", "At-risk"], ROWS),
        "actual_engagement_score": engagement,
        "predicted_engagement_score": np.clip(engagement + rng.normal(0, 0.05, ROWS), 0, 1),
        "avg_daily_logins": features["avg_daily_logins"],
        "churn_probability": 1 - engagement,
        "churn_risk_tier": np.where(engagement < 0.3, "high", "low"),
        "content_interest_1": rng.choice(["music", "travel"], ROWS),
        "actual_churn_30_day": features["churn_30_day"],
        "ltv_p50_usd": engagement * 100,
        "ltv_p10_usd": engagement * 60,
        "ltv_p90_usd": engagement * 160,
        "predicted_engagement_category": np.where(engagement >= 0.66, "high",
                                                  np.where(engagement >= 0.33, "medium", "low")),
        "prediction_quality": rng.choice(["accurate", "acceptable", "poor"], ROWS),
        "churn_flag": engagement < 0.35,
        "content_interest_2": rng.choice(["art", "food"], ROWS),
        "content_interest_3": rng.choice(["tech", "sports"], ROWS),
        "anomaly_score": rng.random(ROWS),
        "anomaly_flag": rng.random(ROWS) < 0.05,
        "reason_1_feature": rng.choice(["avg_daily_logins", "trust_score"], ROWS),
        "churn_reason_1_feature": rng.choice(["days_since_last_login", "trust_score"], ROWS),
    })


class DuckAthena:
    """Athena's query API over DuckDB: the statement transpiled from Trino, values as text."""

    def __init__(self, tables: dict[str, pl.DataFrame]):
        self.db = duckdb.connect()
        self.db.execute("CREATE SCHEMA engagement_analytics")
        for name, table in tables.items():
            self.db.register("frame", table.to_arrow())
            self.db.execute(f"CREATE TABLE engagement_analytics.{name} AS SELECT * FROM frame")
            self.db.unregister("frame")
        self.result = None

    def start_query_execution(self, QueryString, WorkGroup):
        cursor = self.db.execute(sqlglot.transpile(QueryString, read="trino", write="duckdb")[0])
        self.result = ([d[0] for d in cursor.description], cursor.fetchall())
        return {"QueryExecutionId": "q"}

    def get_query_execution(self, QueryExecutionId):
        return {"QueryExecution": {"Status": {"State": "SUCCEEDED"}}}

    def get_query_results(self, QueryExecutionId, MaxResults):
        columns, rows = self.result
        text = [[{"VarCharValue": None if v is None else str(v)} for v in row] for row in rows]
        return {"ResultSet": {"ResultSetMetadata": {"ColumnInfo": [{"Name": c} for c in columns]},
                              "Rows": [{"Data": [{"VarCharValue": c} for c in columns]}] + [{"Data": r} for r in text]}}


class LocalModel:
    def converse(self, **request):
        return planner.converse(request)


@pytest.fixture(scope="module")
def tools(features, results) -> list[Tool]:
    predictions = results.select("customer_id", *ASSISTANT_PREDICTIONS)
    customers = features.join(predictions, on="customer_id").drop("customer_id")  # as the assistant's view: no id
    runner = AthenaRunner(DuckAthena({"assistant_customers": customers}), "engagement", sleep=lambda s: None)
    return [query_athena_tool(runner), feature_stats_tool(runner)]


def asked(question: str, tools: list[Tool]):
    return ask(lambda seconds: LocalModel(), model_id="local-planner", question=question, tools=tools)


def numbers(text: str) -> list[float]:
    return [float(n.replace(",", "")) for n in re.findall(r"-?\d[\d,]*\.?\d*", text.split("Computed by:")[0])]


def close(answer: str, expected: float) -> bool:
    return any(abs(n - expected) <= max(0.0051, abs(expected) * 0.006) for n in numbers(answer))


@pytest.mark.parametrize(("question", "column"), [
    ("How does premium account status affect engagement scores?", "account_type"),
    ("How does engagement differ across age groups?", "age_band"),
    ("Which time of day has the most engaged users?", "time_of_day_active"),
])
def test_engagement_compared_across_an_attribute(question, column, features, tools):
    reply = asked(question, tools)
    assert reply.complete and reply.tool_calls[0]["tool"] == "query_athena" and f"GROUP BY {column}" in reply.sources[0]
    expected = features.group_by(column).agg(pl.col("engagement_score").mean(), pl.len())
    for group, mean, count in expected.iter_rows():
        line = next(line for line in reply.answer.splitlines() if line.startswith(f"- {group}:"))
        assert close(line, mean) and f"{count:,} customers" in line, (line, mean, count)


def test_the_groups_a_question_compares_are_the_ones_answered(features, tools):
    reply = asked("Do mobile users engage more than desktop users?", tools)
    assert "WHERE device_type IN ('mobile', 'desktop') GROUP BY device_type" in reply.sources[0]
    expected = features.filter(pl.col("device_type").is_in(["mobile", "desktop"])).group_by("device_type").agg(
        pl.col("engagement_score").mean(), pl.len())
    assert len([line for line in reply.answer.splitlines() if line.startswith("- ")]) == expected.height
    for group, mean, count in expected.iter_rows():
        line = next(line for line in reply.answer.splitlines() if line.startswith(f"- {group}:"))
        assert close(line, mean) and f"{count:,} customers" in line, (line, mean, count)


@pytest.mark.parametrize(("question", "first", "second"), [
    ("What's the correlation between match success rate and overall engagement?", "match_success_rate",
     "engagement_score"),
    ("What role does social influence score play in daily active usage?", "social_influence_score",
     "avg_daily_logins"),
])
def test_correlation_of_the_features_named(question, first, second, features, tools):
    reply = asked(question, tools)
    expected = features.select(pl.corr(first, second)).item()
    assert f"CORR({first}, {second})" in reply.sources[0] and close(reply.answer, expected)


def test_correlation_within_a_group_the_question_names(features, tools):
    reply = asked("Should we target inactive users with notifications? What's the CTR correlation?", tools)
    inactive = features.filter(pl.col("days_since_last_login") >= 7)
    assert close(reply.answer, features.select(pl.corr("notification_click_rate", "engagement_score")).item())
    assert close(reply.answer, inactive.select(pl.corr("notification_click_rate", "engagement_score")).item())
    assert f"({inactive.height:,} customers)" in reply.answer


def test_contrast_of_top_and_bottom_shares(features, tools):
    reply = asked("What engagement patterns separate the top 10% users from bottom 10%?", tools)
    ordered = features.sort(planner.intents.TIE_BROKEN.split(", "), nulls_last=True).with_row_index("position",
                                                                                                      offset=1)
    top = ordered.filter(pl.col("position") > ROWS * 0.9)
    bottom = ordered.filter(pl.col("position") <= ROWS * 0.1)
    assert f"top 10% by engagement ({top.height:,} customers) from bottom 10% by engagement ({bottom.height:,})" \
        in reply.answer
    first = re.search(r"^- ([a-z0-9 ]+): ", reply.answer, re.MULTILINE).group(1).replace(" ", "_")
    line = next(line for line in reply.answer.splitlines() if line.startswith(f"- {first.replace('_', ' ')}:"))
    assert close(line, top[first].mean()) and close(line, bottom[first].mean())


def test_contrast_of_churned_and_retained_within_a_group(features, tools):
    reply = asked("What can we do to retain users with engagement scores below 0.3?", tools)
    low = features.filter(pl.col("engagement_score") < 0.3)
    retained, churned = low.filter(~pl.col("churn_30_day")).height, low.filter(pl.col("churn_30_day")).height
    assert f"retained ({retained:,} customers) from churned in 30 days ({churned:,})" in reply.answer
    assert "WHERE engagement_score < 0.3" in reply.sources[0]


def test_quartiles_statistics_and_distribution(features, tools):
    reply = asked("How many users are in each engagement quartile?", tools)
    assert reply.answer.count(f"{ROWS // 4:,} customers") == 4
    reply = asked("What's the distribution of engagement scores?", tools)
    scores = features["engagement_score"]
    assert reply.tool_calls[0]["tool"] == "get_feature_stats"
    assert all(close(reply.answer, value) for value in (scores.mean(), scores.std(), scores.max()))
    reply = asked("Show me summary statistics for all features.", tools)
    line = next(line for line in reply.answer.splitlines() if line.startswith("- trust score:"))
    assert close(line, features["trust_score"].mean()) and close(line, features["trust_score"].max())


def test_a_threshold_the_question_states_splits_the_customers(features, tools):
    reply = asked("Do gig sellers (active listings > 0) have higher engagement than buyers?", tools)
    sellers = features.filter(pl.col("gig_listings_active") > 0)
    line = next(line for line in reply.answer.splitlines() if line.startswith("- gig_listings_active > 0:"))
    assert close(line, sellers["engagement_score"].mean()) and f"{sellers.height:,} customers" in line


def test_segments_and_the_churn_threshold(results, features, tools):
    reply = asked("What are the key segments in our user base by engagement level?", tools)
    for segment, count in results.group_by("segment_name").len().iter_rows():
        assert f"{segment}: {count:,} customers" in reply.answer
    reply = asked("What engagement score threshold indicates churn risk?", tools)
    assert "NTILE(10) OVER (ORDER BY engagement_score)" in reply.sources[0]
    assert close(reply.answer, features["churn_30_day"].mean())


def test_a_question_it_cannot_map_gets_no_number_and_the_list_of_what_it_can(tools):
    reply = asked("What will the weather be tomorrow?", tools)
    assert reply.tool_calls == [] and reply.answer.startswith("I cannot answer that")
    assert "engagement quartiles" in reply.answer and not re.search(r"\d", reply.answer)


@pytest.mark.parametrize(("question", "tool", "names"), [
    ("Which device type has the highest engagement?", "query_athena", "GROUP BY device_type"),
    ("Is engagement higher for premium or free accounts?", "query_athena", "GROUP BY account_type"),
    ("Compare engagement between genders", "query_athena", "GROUP BY gender"),
    ("Which states have the most engaged users?", "query_athena", "GROUP BY location"),
    ("How engaged are the different personas?", "query_athena", "GROUP BY segment_name"),
    ("Do tablet users engage less?", "query_athena", "GROUP BY device_type"),
    ("How does engagement differ by content interest?", "query_athena", "GROUP BY content_interest_1"),
    ("Are night owls more engaged than morning users?", "query_athena", "GROUP BY time_of_day_active"),
    ("Is there a link between session duration and engagement? (correlation)", "query_athena",
     "corr(avg_session_duration_min, engagement_score)"),
    ("What's the relationship between connections and engagement?", "query_athena", "corr(total_connections"),
    ("Does revenue correlate with engagement?", "query_athena", "corr(transaction_revenue_month"),
    ("How does trust score relate to daily logins? (correlation)", "query_athena",
     "corr(trust_score, avg_daily_logins)"),
    ("What role does sentiment play in engagement?", "query_athena", "corr(avg_sentiment_score, engagement_score)"),
    ("Give me summary statistics for daily logins", "get_feature_stats", "avg_daily_logins"),
    ("What is the average lifetime value?", "query_athena", "avg(lifetime_value_usd)"),
    ("Describe the distribution of devices", "get_feature_stats", "device_type"),
    ("Split customers into engagement quartiles", "query_athena", "ntile(4)"),
    ("Is there a 'power user' archetype? What defines them?", "query_athena", "GROUP BY segment_name"),
    ("At what engagement level does churn start to rise? What threshold indicates churn?", "query_athena",
     "ntile(10) OVER (ORDER BY engagement_score)"),
    ("Does the number of days since last login predict churn?", "query_athena",
     "ntile(10) OVER (ORDER BY days_since_last_login)"),
    ("What distinguishes customers who churned from those who stayed? (retained vs churned)", "query_athena",
     "WHEN churn_30_day THEN 'second'"),
    ("What separates the top 20% of users from the bottom 20%?", "query_athena", "customers * 80 / 100.0"),
    ("Do users with more than 10 referrals (referral count > 10) engage more?", "query_athena",
     "WHEN referral_count > 10"),
    ("What happens to engagement if we convert free users to premium?", "what_if", "premium_conversion"),
    ("Which features are least important to the model?", "search_knowledge_base", "least important"),
    ("How well does the model perform? RMSE please", "search_knowledge_base", "R²"),
    ("Tell me about customer CUST-00000042", "explain_prediction", "CUST-00000042"),
    ("Why is CUST-00000007 predicted to churn?", "explain_prediction", "CUST-00000007"),
])
def test_paraphrases_map_to_the_intent_and_column_they_name(question, tool, names):
    plan = planner.intents.plan_for(question)
    assert plan is not None and plan.tool == tool and names in next(iter(plan.input.values())), plan


@pytest.mark.parametrize("question", ["What's the weather tomorrow?", "Who will win the election?",
                                      "Write me a poem about churn"])
def test_what_no_tool_can_answer_maps_to_nothing(question):
    assert planner.intents.plan_for(question) is None


# --- the question parser and its evaluation set ------------------------------------------------------

def test_the_evaluation_set_maps_at_least_95_percent_of_its_questions():
    from planner.eval_set import evaluation_set, matches
    questions = evaluation_set()
    assert len(questions) >= 200 and len({q for _, q, _ in questions}) == len(questions)
    misses = [(q, e) for _, q, e in questions if not matches(getattr(planner.intents.plan_for(q), "reading", None), e)]
    assert len(misses) <= 0.05 * len(questions), misses


def test_every_statistic_of_the_evaluation_set_runs_and_is_answered_with_numbers(tools):
    from planner.eval_set import evaluation_set, matches
    statistics = [q for _, q, e in evaluation_set() if re.match(r"[a-z0-9]+\(", e) and not e.startswith("unknown(")
                  and matches(getattr(planner.intents.plan_for(q), "reading", None), e)]  # misses: the test above
    assert len(statistics) > 150
    for question in statistics:
        reply = asked(question, tools)
        assert reply.complete and reply.tool_calls and "error" not in (reply.tool_calls[0]["output"] or {}), question
        assert not reply.answer.startswith("I "), (question, reply.answer)
        assert numbers(reply.answer) or "too few customers match" in reply.answer, (question, reply.answer)


def line_of(answer: str, group) -> str:
    return next(line for line in answer.splitlines() if line.startswith(f"- {group}:"))


def test_a_measure_across_groups_and_a_label_split_are_the_groups_means(features, tools):
    reply = asked("What is the average lifetime value by account type?", tools)
    for group, mean, count in features.group_by("account_type").agg(pl.col("lifetime_value_usd").mean(),
                                                                    pl.len()).iter_rows():
        line = line_of(reply.answer, group)
        assert close(line, mean) and f"{count:,} customers" in line
    reply = asked("What is the average LTV of churned vs retained customers?", tools)
    for churned, label in ((True, "churn 30 day"), (False, "not churn 30 day")):
        rows = features.filter(pl.col("churn_30_day") == churned)
        assert close(line_of(reply.answer, label), rows["lifetime_value_usd"].mean())


def test_a_rate_a_count_a_percentile_and_an_extreme_of_the_rows_asked_for(features, tools):
    premium = features.filter(pl.col("account_type") == "premium")
    assert close(asked("What is the churn rate for premium users?", tools).answer, premium["churn_30_day"].mean())
    assert f"{premium.filter(pl.col('churn_30_day')).height:,}" in asked("How many premium users churned?",
                                                                          tools).answer
    many = features.filter(pl.col("avg_daily_logins") > 5).height
    assert f": {many:,}." in asked("How many users have more than 5 daily logins?", tools).answer
    p90 = features["avg_session_duration_min"].quantile(0.9)
    answer = asked("90th percentile of session length", tools).answer
    assert any(abs(n - p90) <= 0.02 * p90 for n in numbers(answer)), (answer, p90)  # approx_percentile
    assert close(asked("What is the maximum LTV?", tools).answer, features["lifetime_value_usd"].max())
    share = (features["account_type"] == "premium").mean()
    assert close(asked("What % of customers are premium?", tools).answer, share)


def test_a_ranking_lists_the_groups_in_order_and_stops_at_the_number_asked(features, tools):
    reply = asked("Top 5 states by revenue", tools)
    expected = features.group_by("location").agg(pl.col("transaction_revenue_month").mean(), pl.len()) \
        .filter(pl.col("len") >= 10).sort("transaction_revenue_month", descending=True).head(5)
    lines = [line for line in reply.answer.splitlines() if line.startswith("- ")]
    assert [line[2:4] for line in lines] == expected["location"].to_list()
    assert all(close(line, mean) for line, mean in zip(lines, expected["transaction_revenue_month"]))


def test_bands_of_a_measure_are_its_quartiles(features, tools):
    reply = asked("Average engagement by quartile of total connections", tools)
    ordered = features.sort("total_connections")
    quartile = ordered.with_row_index().with_columns(band=(pl.col("index") * 4 // ordered.height) + 1)
    for band, mean in quartile.group_by("band").agg(pl.col("engagement_score").mean()).sort("band").iter_rows():
        line = next(line for line in reply.answer.splitlines() if line.startswith(f"- quartile {band} "))
        assert close(line, mean), (line, mean)


def test_a_word_not_understood_is_named_and_no_number_is_given(tools):
    reply = asked("What is the average income of churned users?", tools)
    assert reply.tool_calls == [] and "I do not know what 'income' refers to" in reply.answer
    assert not re.search(r"\d", reply.answer)
