"""The assistant's tools, as plain functions over AWS clients (the Lambda wires them to the loop).

- `query_athena(sql)`: the guarded SQL (engagement.sql_guard) run in the workgroup, whose
  bytes-scanned cutoff bounds every query; the result is the columns and rows, and the SQL that
  ran is the source.
- `explain_prediction(customer_id)`: the published run's cached outputs and top-5 reasons.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass

from engagement.assistant import Tool, ToolRefused
from engagement.cache import PublishedRunMissing, published_prediction
from engagement.layout import PUBLISHED_VIEWS, Buckets
from engagement.prediction_api import BadRequest, checked_customer_id
from engagement.sql_guard import UnsafeQuery, safe_select

MAX_ROWS = 200  # rows a query returns to the model
POLL_SECONDS = 0.2
QUERY_TIMEOUT_S = 20.0
READABLE_TABLES = frozenset(PUBLISHED_VIEWS)  # the published views: no PII, no tokens, no raw layer


@dataclass(frozen=True)
class AthenaRunner:
    """Runs a SELECT in one workgroup and waits for it (Athena's API, polled)."""

    athena: object
    workgroup: str
    sleep: Callable[[float], None] = time.sleep
    timeout_s: float = QUERY_TIMEOUT_S

    def rows(self, sql: str) -> tuple[list[str], list[list[str | None]]]:
        query_id = self.athena.start_query_execution(QueryString=sql, WorkGroup=self.workgroup)["QueryExecutionId"]
        waited = 0.0
        while True:
            status = self.athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]
            if status["State"] == "SUCCEEDED":
                break
            if status["State"] in ("FAILED", "CANCELLED"):
                raise ToolRefused(f"the query failed: {status.get('StateChangeReason', status['State'])}")
            if waited >= self.timeout_s:
                self.athena.stop_query_execution(QueryExecutionId=query_id)
                raise ToolRefused(f"the query took longer than {self.timeout_s:g} s and was stopped")
            self.sleep(POLL_SECONDS)
            waited += POLL_SECONDS
        result = self.athena.get_query_results(QueryExecutionId=query_id, MaxResults=MAX_ROWS + 1)["ResultSet"]
        columns = [column["Name"] for column in result["ResultSetMetadata"]["ColumnInfo"]]
        rows = [[cell.get("VarCharValue") for cell in row["Data"]] for row in result["Rows"]]
        return columns, rows[1:] if rows and rows[0] == columns else rows  # the first row repeats the header


def query_athena_tool(runner: AthenaRunner) -> Tool:
    def run(request: dict) -> dict:
        try:
            sql = safe_select(str(request.get("sql", "")), allowed_tables=READABLE_TABLES, max_rows=MAX_ROWS)
        except UnsafeQuery as unsafe:
            raise ToolRefused(str(unsafe)) from None
        columns, rows = runner.rows(sql)
        return {"columns": columns, "rows": rows, "source": sql}

    return Tool(
        "query_athena",
        "Run one read-only Athena (Trino SQL) SELECT over the published views and get the rows (at most "
        f"{MAX_ROWS}). Views: " + ", ".join(sorted(READABLE_TABLES)) + ".",
        {"type": "object", "required": ["sql"], "properties": {"sql": {"type": "string"}}}, run)


def explain_prediction_tool(s3, table, buckets: Buckets) -> Tool:
    def run(request: dict) -> dict:
        try:
            customer_id = checked_customer_id(request.get("customer_id"))
            prediction = published_prediction(s3, table, buckets, customer_id)
        except (BadRequest, PublishedRunMissing) as error:
            raise ToolRefused(str(error)) from None
        if prediction is None:
            raise ToolRefused(f"customer {customer_id!r} is not in the published run")
        return {**prediction, "source": f"prediction cache: {customer_id}, run {prediction['run_id']}"}

    return Tool(
        "explain_prediction",
        "One customer's predictions (engagement, churn, lifetime value, interests, anomaly, segment) and the top 5 "
        "reasons of the engagement and churn models, from the published run.",
        {"type": "object", "required": ["customer_id"], "properties": {"customer_id": {"type": "string"}}}, run)
