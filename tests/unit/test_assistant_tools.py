"""The assistant's tools: query_athena runs only guarded SQL and waits for Athena; explain_prediction
reads the published run's cache."""

import json

import boto3
import pytest
from moto import mock_aws

from engagement.assistant import ToolRefused
from engagement.assistant_tools import (
    CUSTOMERS,
    MAX_ROWS,
    MIN_GROUP_SIZE,
    AthenaRunner,
    explain_prediction_tool,
    feature_stats_tool,
    query_athena_tool,
    search_knowledge_base_tool,
    what_if_tool,
)
from engagement.layout import BUCKETS, Buckets
from engagement.sql_guard import GROUP_SIZE


class FakeAthena:
    """Athena's query API: a query is RUNNING for `polls` polls, then ends in `outcome`."""

    def __init__(self, outcome="SUCCEEDED", polls=2, reason=""):
        self.outcome, self.polls, self.reason = outcome, polls, reason
        self.started, self.stopped = [], []

    def start_query_execution(self, QueryString, WorkGroup):
        self.started.append((QueryString, WorkGroup))
        return {"QueryExecutionId": "q1"}

    def get_query_execution(self, QueryExecutionId):
        self.polls -= 1
        state = "RUNNING" if self.polls > 0 else self.outcome
        return {"QueryExecution": {"Status": {"State": state, "StateChangeReason": self.reason}}}

    def stop_query_execution(self, QueryExecutionId):
        self.stopped.append(QueryExecutionId)

    def get_query_results(self, QueryExecutionId, MaxResults):
        assert MaxResults == MAX_ROWS + 1
        names = ("segment_name", "customers", GROUP_SIZE)
        rows = [names, ("Power users", "812", "812"), (None, "10", "10"), ("Rare", "9", "9")]
        return {"ResultSet": {"ResultSetMetadata": {"ColumnInfo": [{"Name": name} for name in names]},
                              "Rows": [{"Data": [{"VarCharValue": value} for value in row]} for row in rows]}}


def runner(athena: FakeAthena, **kwargs) -> AthenaRunner:
    """A runner whose sleeping is what moves its clock."""
    now = [0.0]
    return AthenaRunner(athena, "engagement", sleep=lambda seconds: now.__setitem__(0, now[0] + seconds),
                        clock=lambda: now[0], **kwargs)


def test_query_athena_runs_the_guarded_sql_in_the_workgroup_and_suppresses_small_groups():
    athena = FakeAthena()
    tool = query_athena_tool(runner(athena))
    result = tool.run({"sql": f"SELECT segment_name, count(*) AS customers FROM {CUSTOMERS} GROUP BY 1"}, 20.0)
    expected_sql = (f"SELECT segment_name, COUNT(*) AS customers, COUNT(*) AS {GROUP_SIZE} FROM {CUSTOMERS} "
                    f"GROUP BY 1 LIMIT {MAX_ROWS}")
    assert athena.started == [(expected_sql, "engagement")]
    assert MIN_GROUP_SIZE == 10  # the group of 9 is left out, and counted
    assert result == {"columns": ["segment_name", "customers"], "rows": [["Power users", "812"], [None, "10"]],
                      "suppressed_groups": 1, "source": expected_sql}


@pytest.mark.parametrize(("sql", "reason"), [
    (f"SELECT total_connections, location FROM {CUSTOMERS}", "only aggregates"),
    ("SELECT customer_id, count(*) FROM engagement_analytics.final_results GROUP BY 1", "is not one of the tables"),
    ("SELECT count(*) FROM engagement_analytics.customer_features", "is not one of the tables"),
    (f"SELECT array_agg(total_connections) FROM {CUSTOMERS}", "aggregates that list values"),
    (f"SELECT max(a.total_connections) FROM {CUSTOMERS} a JOIN {CUSTOMERS} b ON a.gender = b.gender", "never multiplied"),
    (f"SELECT count(*), (SELECT max(total_connections) FROM {CUSTOMERS} WHERE location = 'X') FROM {CUSTOMERS}",
     "a subquery among an aggregate's columns"),
    (f"SELECT 100 AS rows_in_group, max(total_connections) FROM {CUSTOMERS} WHERE location = 'X'",
     "the name of the column the guard adds"),
    (f"SELECT (SELECT avg(trust_score) FROM {CUSTOMERS}), (SELECT trust_score FROM {CUSTOMERS} LIMIT 1)",
     "only aggregates"),
    (f"SELECT (SELECT array_agg(location) FROM {CUSTOMERS} WHERE churn_30_day)", "aggregates that list values"),
])
def test_query_athena_returns_only_aggregates_of_customer_rows(sql, reason):
    athena = FakeAthena()
    with pytest.raises(ToolRefused, match=reason):
        query_athena_tool(runner(athena)).run({"sql": sql}, 20.0)
    assert athena.started == []


def test_one_row_of_aggregate_subqueries_carries_the_smallest_of_their_group_sizes():
    from engagement.assistant_tools import MAX_ROWS, READABLE_TABLES
    from engagement.sql_guard import aggregate_select

    guarded = aggregate_select(f"SELECT (SELECT avg(trust_score) FROM {CUSTOMERS} WHERE churn_30_day) AS a, "
                               f"(SELECT avg(trust_score) FROM {CUSTOMERS} WHERE NOT churn_30_day) AS b",
                               allowed_tables=READABLE_TABLES, max_rows=MAX_ROWS)
    assert guarded.endswith(f"LEAST((SELECT COUNT(*) FROM {CUSTOMERS} WHERE churn_30_day), (SELECT COUNT(*) FROM "
                            f"{CUSTOMERS} WHERE NOT churn_30_day)) AS rows_in_group LIMIT {MAX_ROWS}"), guarded


def test_query_athena_refuses_unsafe_sql_before_anything_runs():
    athena = FakeAthena()
    with pytest.raises(ToolRefused, match="engagement_raw.customers is not one of the tables"):
        query_athena_tool(runner(athena)).run({"sql": "SELECT email FROM engagement_raw.customers"}, 20.0)
    assert athena.started == []


def test_a_failed_or_slow_query_is_reported_not_raised_as_a_crash():
    with pytest.raises(ToolRefused, match="the query failed: COLUMN_NOT_FOUND"):
        query_athena_tool(runner(FakeAthena("FAILED", reason="COLUMN_NOT_FOUND"))).run(
            {"sql": f"SELECT avg(x) FROM {CUSTOMERS}"}, 20.0)
    slow = FakeAthena(polls=10_000)
    with pytest.raises(ToolRefused, match="longer than 1 s and was stopped"):
        query_athena_tool(runner(slow, timeout_s=1)).run({"sql": f"SELECT count(*) FROM {CUSTOMERS}"}, 20.0)
    assert slow.stopped == ["q1"]


def test_a_query_is_stopped_when_the_callers_time_is_up_or_anything_ends_the_wait():
    """The turn's seconds left bound the wait, not only the tool's own timeout; a query still
    running when the wait ends for any reason is stopped (on AWS an orphan holds concurrency)."""
    slow = FakeAthena(polls=10_000)
    with pytest.raises(ToolRefused, match="longer than 2.5 s and was stopped"):
        query_athena_tool(runner(slow)).run({"sql": f"SELECT count(*) FROM {CUSTOMERS}"}, 2.5)
    assert slow.stopped == ["q1"]

    class Interrupted(FakeAthena):
        def get_query_execution(self, QueryExecutionId):
            raise KeyboardInterrupt  # the Lambda's time running out, say

    broken = Interrupted()
    with pytest.raises(KeyboardInterrupt):
        query_athena_tool(runner(broken)).run({"sql": f"SELECT count(*) FROM {CUSTOMERS}"}, 20.0)
    assert broken.stopped == ["q1"]


def test_explain_prediction_checks_the_id_before_reading():
    tool = explain_prediction_tool(s3=None, table=None, buckets=None)
    for bad in ("CUST 1; DROP", 7, None):
        with pytest.raises(ToolRefused, match="customer_id: expected 1-64 letters"):
            tool.run({"customer_id": bad}, 20.0)


def test_feature_stats_refuses_a_column_outside_the_de_identified_view():
    athena = FakeAthena()
    tool = feature_stats_tool(runner(athena))
    for refused in ("age", "email", "email_token", "customer_id", "engagement_score; DROP"):
        with pytest.raises(ToolRefused, match=f"unknown feature {refused!r}"):
            tool.run({"feature": refused}, 20.0)
    assert athena.started == [] and "age_band" in tool.description and "email" not in tool.description


def test_what_if_reports_the_published_runs_scored_scenario_and_refuses_others():
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        buckets = Buckets(**{name: name.replace("_", "-") for name in BUCKETS})
        s3.create_bucket(Bucket=buckets.results)
        s3.create_bucket(Bucket=buckets.processed)
        tool = what_if_tool(s3, buckets)
        with pytest.raises(ToolRefused, match="no run has been published yet"):
            tool.run({"scenario": "premium_conversion"}, 20.0)
        s3.put_object(Bucket=buckets.results, Key="published/latest.json", Body=b'{"run_id": "r1"}')
        scored = {"name": "premium_conversion", "customers_changed": 416, "engagement_change": 0.00261}
        s3.put_object(Bucket=buckets.processed, Key="runs/r1/inference_summary.json",
                      Body=json.dumps({"what_if": [scored]}).encode())
        result = tool.run({"scenario": "premium_conversion"}, 20.0)
        assert result["engagement_change"] == 0.00261 and result["run_id"] == "r1"
        assert result["source"].endswith("s3://processed/runs/r1/inference_summary.json")
        with pytest.raises(ToolRefused, match="did not score scenario 'notification_click_rate_up_20pct'"):
            tool.run({"scenario": "notification_click_rate_up_20pct"}, 20.0)
        with pytest.raises(ToolRefused, match="unknown scenario 'double revenue'"):
            tool.run({"scenario": "double revenue"}, 20.0)


def test_search_knowledge_base_retrieves_from_the_published_run_only():
    class FakeRetrieve:
        requests = []

        def retrieve(self, **request):
            self.requests.append(request)
            return {"retrievalResults": [{"content": {"text": "R² 0.9"}, "score": 0.4,
                                          "location": {"s3Location": {"uri": "s3://kb/runs/r1/model_performance.md"}}}]}

    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        buckets = Buckets(**{name: name.replace("_", "-") for name in BUCKETS})
        s3.create_bucket(Bucket=buckets.results)
        agent = FakeRetrieve()
        tool = search_knowledge_base_tool(agent, s3, buckets, "KB1")
        with pytest.raises(ToolRefused, match="no run has been published yet"):
            tool.run({"query": "accuracy"}, 20.0)
        with pytest.raises(ToolRefused, match="query is empty"):
            tool.run({"query": "  "}, 20.0)
        s3.put_object(Bucket=buckets.results, Key="published/latest.json", Body=b'{"run_id": "r1"}')
        result = tool.run({"query": "accuracy"}, 20.0)
    [request] = agent.requests
    assert request["knowledgeBaseId"] == "KB1"
    assert request["retrievalConfiguration"]["vectorSearchConfiguration"]["filter"] == {
        "equals": {"key": "run_id", "value": "r1"}}
    assert result["source"] == "knowledge base: s3://kb/runs/r1/model_performance.md" and result["run_id"] == "r1"


def test_a_sync_refused_while_the_previous_one_runs_is_retried_later_not_failed():
    """Bedrock answers ConflictException while the data source's previous job runs; the stage
    raises IngestionJobBusy, which the state machine retries (tests/infra: the KnowledgeBaseDocuments
    state's Retry names it)."""
    import boto3
    from botocore.stub import Stubber

    from engagement.knowledge_base import Index, IngestionJobBusy, start_ingestion

    agent = boto3.client("bedrock-agent", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
    with Stubber(agent) as stub:
        stub.add_client_error("start_ingestion_job", service_error_code="ConflictException", http_status_code=409,
                              service_message="an ingestion job is already running")
        with pytest.raises(IngestionJobBusy, match="still syncing"):
            start_ingestion(agent, Index(knowledge_base_id="KB1234567A", data_source_id="DS1234567A"), "r_1")


def test_the_model_is_told_every_column_of_the_view_it_queries_and_no_other():
    import re
    from pathlib import Path

    import sqlglot

    from engagement.assistant import system_prompt
    from engagement.assistant_tools import MAX_ROWS, MIN_GROUP_SIZE, query_athena_tool

    view = sqlglot.parse_one((Path(__file__).resolve().parents[2] / "sql" / "view_assistant_customers.sql")
                             .read_text(), read="trino")
    selected = {e.alias_or_name for e in view.find(sqlglot.exp.Select).expressions}
    prompt = system_prompt([query_athena_tool(runner=None)])
    named = set(re.findall(r"^- (\w+) \((?:string|int|double|boolean|bigint)\): ", prompt, re.MULTILINE))
    assert named == selected, (named ^ selected)
    assert "Trino" in prompt and f"at most {MAX_ROWS} rows" in prompt and f"fewer than {MIN_GROUP_SIZE}" in prompt
    assert "Values: free, premium." in prompt  # a column's allowed values, from the contract
