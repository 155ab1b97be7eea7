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
from engagement.assistant_tools import AthenaRunner, query_athena_tool

ROWS = 2_000


@pytest.fixture(scope="module")
def results() -> pl.DataFrame:
    rng = np.random.default_rng(7)
    engagement = rng.uniform(0, 1, ROWS)
    return pl.DataFrame({
        "customer_id": [f"CUST-{i:08d}" for i in range(ROWS)],
        "device_type": rng.choice(["mobile", "desktop", "tablet"], ROWS),
        "account_type": rng.choice(["free", "premium"], ROWS),
        "age_band": rng.choice(["18-24", "25-34", "35-44"], ROWS),
        "segment_name": rng.choice(["Power users", "Casual", "At-risk"], ROWS),
        "actual_engagement_score": engagement,
        "predicted_engagement_score": np.clip(engagement + rng.normal(0, 0.05, ROWS), 0, 1),
        "avg_daily_logins": engagement * 5 + rng.normal(0, 0.5, ROWS),
        "churn_probability": 1 - engagement,
        "actual_churn_30_day": rng.uniform(0, 1, ROWS) > engagement + 0.3,
        "ltv_p50_usd": engagement * 100,
    })


class DuckAthena:
    """Athena's query API over DuckDB: the statement transpiled from Trino, values as text."""

    def __init__(self, table: pl.DataFrame):
        self.db = duckdb.connect()
        self.db.execute("CREATE SCHEMA engagement_analytics")
        self.db.register("frame", table.to_arrow())
        self.db.execute("CREATE TABLE engagement_analytics.final_results AS SELECT * FROM frame")
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
def tools(results) -> list[Tool]:
    return [query_athena_tool(AthenaRunner(DuckAthena(results), "engagement", sleep=lambda s: None))]


def asked(question: str, tools: list[Tool]):
    return ask(LocalModel(), model_id="local-planner", question=question, tools=tools)


def numbers(text: str) -> list[float]:
    return [float(n.replace(",", "")) for n in re.findall(r"-?\d[\d,]*\.?\d*", text.split("Computed by:")[0])]


def close(answer: str, expected: float) -> bool:
    return any(abs(n - expected) <= max(0.0051, abs(expected) * 0.006) for n in numbers(answer))


@pytest.mark.parametrize(("question", "column"), [
    ("Do mobile users engage more than desktop users?", "device_type"),
    ("How does premium account status affect engagement scores?", "account_type"),
    ("How does engagement differ across age groups?", "age_band"),
])
def test_engagement_compared_across_an_attribute(question, column, results, tools):
    reply = asked(question, tools)
    assert reply.complete and reply.tool_calls[0]["tool"] == "query_athena" and f"GROUP BY {column}" in reply.sources[0]
    expected = results.group_by(column).agg(pl.col("actual_engagement_score").mean(), pl.len())
    for group, mean, count in expected.iter_rows():
        line = next(line for line in reply.answer.splitlines() if line.startswith(f"- {group}:"))
        assert close(line, mean) and f"{count:,} customers" in line, (line, mean, count)


def test_correlation_with_engagement(results, tools):
    reply = asked("What's the correlation between daily logins and overall engagement?", tools)
    expected = results.select(pl.corr("avg_daily_logins", "actual_engagement_score")).item()
    assert "CORR(avg_daily_logins, actual_engagement_score)" in reply.sources[0] and close(reply.answer, expected)


def test_quartiles_and_distribution(results, tools):
    reply = asked("How many users are in each engagement quartile?", tools)
    assert reply.answer.count("500 customers") == 4
    reply = asked("What's the distribution of engagement scores?", tools)
    scores = results["actual_engagement_score"]
    assert close(reply.answer, scores.mean()) and close(reply.answer, scores.std()) and close(reply.answer, scores.max())


def test_segments_and_the_churn_threshold(results, tools):
    reply = asked("What are the key segments in our user base by engagement level?", tools)
    for segment, count in results.group_by("segment_name").len().iter_rows():
        assert f"{segment}: {count:,} customers" in reply.answer
    reply = asked("What engagement score threshold indicates churn risk?", tools)
    overall = results["actual_churn_30_day"].mean()
    assert close(reply.answer, overall) and "Churn runs above the average rate" in reply.answer


def test_a_question_it_cannot_map_gets_no_number_and_the_list_of_what_it_can(tools):
    reply = asked("What will the weather be tomorrow?", tools)
    assert reply.tool_calls == [] and reply.answer.startswith("I cannot answer that")
    assert "the distribution and quartiles of engagement scores" in reply.answer and not re.search(r"\d", reply.answer)


@pytest.mark.parametrize(("question", "tool", "names"), [
    ("Which device type has the highest engagement?", "query_athena", "GROUP BY device_type"),
    ("Is engagement higher for premium or free accounts?", "query_athena", "GROUP BY account_type"),
    ("Compare engagement between genders", "query_athena", "GROUP BY gender"),
    ("Which states have the most engaged users?", "query_athena", "GROUP BY location"),
    ("What locations have the most engaged users?", "query_athena", "GROUP BY location"),
    ("How engaged are the different personas?", "query_athena", "GROUP BY segment_name"),
    ("Do tablet users engage less?", "query_athena", "GROUP BY device_type"),
    ("How does engagement differ by content interest?", "query_athena", "GROUP BY content_interest_1"),
    ("Is there a link between session duration and engagement? (correlation)", "query_athena",
     "corr(avg_session_duration_min"),
    ("What's the relationship between connections and engagement?", "query_athena", "corr(total_connections"),
    ("Does revenue correlate with engagement?", "query_athena", "corr(transaction_revenue_month"),
    ("How does days since last login affect engagement?", "query_athena", "corr(days_since_last_login"),
    ("Give me summary statistics for daily logins", "query_athena", "avg(avg_daily_logins) AS mean"),
    ("What is the average lifetime value?", "query_athena", "avg(ltv_p50_usd) AS mean"),
    ("Mean churn probability?", "query_athena", "avg(churn_probability) AS mean"),
    ("Describe the distribution of engagement", "query_athena", "approx_percentile(actual_engagement_score, 0.5)"),
    ("Split customers into engagement quartiles", "query_athena", "ntile(4)"),
    ("Is there a 'power user' archetype? What defines them?", "query_athena", "GROUP BY segment_name"),
    ("At what engagement level does churn start to rise? What threshold indicates churn?", "query_athena",
     "ntile(10)"),
    ("Tell me about customer CUST-00000042", "explain_prediction", "CUST-00000042"),
    ("Why is CUST-00000007 predicted to churn?", "explain_prediction", "CUST-00000007"),
])
def test_paraphrases_map_to_the_intent_and_column_they_name(question, tool, names):
    plan = planner.intents.plan_for(question)
    assert plan is not None and plan.tool == tool and names in (plan.input.get("sql") or plan.input["customer_id"])


@pytest.mark.parametrize("question", ["What's the weather tomorrow?",
                                      "What role does social influence score play in daily active usage?"])
def test_what_the_published_views_cannot_answer_maps_to_nothing(question):
    assert planner.intents.plan_for(question) is None  # social influence is not in the results view (yet)
