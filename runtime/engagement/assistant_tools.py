"""The assistant's tools, as plain functions over AWS clients (the Lambda wires them to the loop).

- `query_athena(sql)`: the guarded SQL (engagement.sql_guard) run in the assistant's workgroup,
  whose bytes-scanned cutoff bounds every query; the result is the columns and rows, and the SQL
  that ran is the source.
- `get_feature_stats(feature)`: summary statistics of one feature or label of the published run
  (or of every numeric one).

Both read only the assistant's view, which holds no customer id, and return only aggregates: every
row covers at least MIN_GROUP_SIZE customers; smaller groups are suppressed and counted.
- `explain_prediction(customer_id)`: the published run's cached outputs and top-5 reasons.
- `search_knowledge_base(query)`: Bedrock Retrieve over the published run's documents (model
  metrics, feature importance, data quality, feature statistics, a predictions summary, what-if
  results, the data dictionary).
- `what_if(scenario)`: a scenario (engagement.scenarios) as Inference scored it with the published
  run's trained models.
"""

import json

import time
from collections.abc import Callable
from dataclasses import dataclass

from engagement.assistant import Tool, ToolRefused
from engagement.cache import PublishedRunMissing, published_prediction
from engagement.layout import ASSISTANT_VIEW, Buckets, Run
from engagement.prediction_api import BadRequest, checked_customer_id
from engagement.predictions_schema import ASSISTANT_PREDICTIONS, DERIVED_COLUMNS, PREDICTION_COLUMNS
from engagement.publish import read_pointer
from engagement.scenarios import SCENARIOS
from engagement.schema import AGE_BAND, BY_NAME, ColumnType, deidentified_columns
from engagement.sql_guard import GROUP_SIZE, UnsafeQuery, aggregate_select

MAX_ROWS = 200  # rows a query returns to the model
AGE_BAND_DESCRIPTION = "Age band: 18-24, 25-34, 35-44, 45-54 or 55+ (all analytics sees of age)"
MIN_GROUP_SIZE = 10  # customers behind every row a tool returns (k-anonymity of the output)
POLL_SECONDS = (0.025, 0.05, 0.1)  # then every 0.1 s: a short query is seen soon, a long one not polled hard
QUERY_TIMEOUT_S = 20.0
CUSTOMERS = ASSISTANT_VIEW.qualified  # no PII, no tokens, no customer id
READABLE_TABLES = frozenset({CUSTOMERS})
ALL_FEATURES = "all"


@dataclass(frozen=True)
class AthenaRunner:
    """Runs a SELECT in one workgroup and waits for it (Athena's API, polled), at most
    `timeout_s` or the seconds left to the caller, whichever ends first: a query still running
    then — or when anything else ends the wait — is stopped, so none outlives the request."""

    athena: object
    workgroup: str
    sleep: Callable[[float], None] = time.sleep
    timeout_s: float = QUERY_TIMEOUT_S
    clock: Callable[[], float] = time.monotonic

    def rows(self, sql: str, seconds_left: float) -> tuple[list[str], list[list[str | None]]]:
        limit = min(self.timeout_s, seconds_left)
        query_id = self.athena.start_query_execution(QueryString=sql, WorkGroup=self.workgroup)["QueryExecutionId"]
        finished, ends, polls = False, self.clock() + limit, 0
        try:
            while True:
                status = self.athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]
                finished = status["State"] in ("SUCCEEDED", "FAILED", "CANCELLED")
                if status["State"] == "SUCCEEDED":
                    break
                if finished:
                    raise ToolRefused(f"the query failed: {status.get('StateChangeReason', status['State'])}")
                if self.clock() >= ends:
                    raise ToolRefused(f"the query took longer than {limit:.3g} s and was stopped")
                self.sleep(POLL_SECONDS[min(polls, len(POLL_SECONDS) - 1)])
                polls += 1
        finally:
            if not finished:
                self.athena.stop_query_execution(QueryExecutionId=query_id)
        result = self.athena.get_query_results(QueryExecutionId=query_id, MaxResults=MAX_ROWS + 1)["ResultSet"]
        columns = [column["Name"] for column in result["ResultSetMetadata"]["ColumnInfo"]]
        rows = [[cell.get("VarCharValue") for cell in row["Data"]] for row in result["Rows"]]
        return columns, rows[1:] if rows and rows[0] == columns else rows  # the first row repeats the header


def aggregates(runner: AthenaRunner, sql: str, seconds_left: float) -> dict:
    """The rows of an aggregate query over the assistant's view, groups of fewer than
    MIN_GROUP_SIZE customers suppressed: {"columns", "rows", "suppressed_groups", "source"}."""
    try:
        guarded = aggregate_select(sql, allowed_tables=READABLE_TABLES, max_rows=MAX_ROWS)
    except UnsafeQuery as unsafe:
        raise ToolRefused(str(unsafe)) from None
    columns, rows = runner.rows(guarded, seconds_left)
    if GROUP_SIZE not in columns:
        raise ToolRefused(f"the query's result lost the {GROUP_SIZE} column: select it (or *) from the aggregate")
    size = columns.index(GROUP_SIZE)
    kept = [row[:size] + row[size + 1:] for row in rows
            if row[size] is not None and int(row[size]) >= MIN_GROUP_SIZE]
    return {"columns": columns[:size] + columns[size + 1:], "rows": kept, "suppressed_groups": len(rows) - len(kept),
            "source": guarded}


def view_columns() -> list[tuple[str, str, str]]:
    """(name, type, description) of every column of the assistant's view, from the data contract and
    the predictions' schema (sql/view_assistant_customers.sql selects exactly these; a test ties them)."""
    described = {name: (type_, text) for name, type_, text in (*PREDICTION_COLUMNS, *DERIVED_COLUMNS)}
    features = [(name, str(type_), AGE_BAND_DESCRIPTION if name == AGE_BAND else _described(BY_NAME[name]))
                for name, type_ in deidentified_columns().items()]
    return features + [(name, *described[name]) for name in ASSISTANT_PREDICTIONS]


def _described(column) -> str:
    values = f" Values: {', '.join(column.allowed)}." if column.allowed else ""
    bounds = f" From {column.minimum:g} to {column.maximum:g}." if column.minimum is not None else ""
    return column.description + values + bounds


def query_instructions() -> str:
    """What a model writing SQL for query_athena is told: the view, its columns, the dialect, the
    limit and what the guard refuses (engagement.sql_guard)."""
    columns = "\n".join(f"- {name} ({type_}): {text}" for name, type_, text in view_columns())
    return (
        f"query_athena runs Athena engine version 3 SQL (Trino dialect: approx_percentile, TRY_CAST, date_add, "
        f"window functions, WITH queries, CASE) over one view, {CUSTOMERS}: one row per customer of the published "
        f"run, no customer id. Its columns:\n{columns}\n"
        f"Rules: one SELECT statement (WITH queries and UNION ALL of SELECTs are fine); at most {MAX_ROWS} rows "
        f"come back (a larger LIMIT is lowered); every row must be an aggregate over customers (count, avg, sum, "
        f"min, max, stddev, approx_percentile, corr…), and groups of fewer than {MIN_GROUP_SIZE} customers are "
        "left out. Refused, with the reason: anything that writes or changes the catalog, other tables, joins, "
        "recursive WITH, table functions, set operations or UNNEST below an aggregate, aggregates that list "
        "values (array_agg, map_agg, listagg, histogram…), and any query returning individual customers' rows.")


def query_athena_tool(runner: AthenaRunner) -> Tool:
    columns = [*deidentified_columns(), *ASSISTANT_PREDICTIONS]
    return Tool(
        "query_athena",
        f"Run one read-only Athena (Trino SQL) SELECT over the view {CUSTOMERS} (one row per customer of the "
        "published run, no customer id) and get the rows (at most "
        f"{MAX_ROWS}). Only aggregates are returned (GROUP BY with count, avg, sum, min, max, approx_percentile, "
        f"corr…); groups of fewer than {MIN_GROUP_SIZE} customers are suppressed. No joins, no row listings. "
        "Columns: " + ", ".join(columns) + ".",
        {"type": "object", "required": ["sql"], "properties": {"sql": {"type": "string"}}},
        lambda request, seconds_left: aggregates(runner, str(request.get("sql", "")), seconds_left),
        query_instructions())


def explain_prediction_tool(s3, table, buckets: Buckets) -> Tool:
    def run(request: dict, seconds_left: float) -> dict:
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


def feature_stats_tool(runner: AthenaRunner) -> Tool:
    measures = deidentified_columns()
    numeric = [name for name, type_ in measures.items() if type_ in (ColumnType.INT, ColumnType.DOUBLE)]

    def run(request: dict, seconds_left: float) -> dict:
        feature = str(request.get("feature", ""))
        if feature == ALL_FEATURES:
            sql = " UNION ALL ".join(_numeric_stats_sql(name) for name in numeric)
        elif feature in numeric:
            sql = _numeric_stats_sql(feature)
        elif feature in measures:
            sql = (f"SELECT CAST({feature} AS varchar) AS value, count(*) AS customers, "
                   f"count(*) / CAST(sum(count(*)) OVER () AS double) AS share FROM {CUSTOMERS} "
                   f"GROUP BY 1 ORDER BY customers DESC LIMIT {MAX_ROWS}")
        else:
            raise ToolRefused(f"unknown feature {feature!r}: one of {ALL_FEATURES!r}, " + ", ".join(measures))
        return {"feature": feature, **aggregates(runner, sql, seconds_left)}

    return Tool(
        "get_feature_stats",
        "Summary statistics of one feature or label of the published run's customers (numeric: count, missing, "
        "mean, standard deviation, min, quartiles, max; categorical: customers per value), or of every numeric "
        f"one with feature '{ALL_FEATURES}'. Features: " + ", ".join(measures) + ".",
        {"type": "object", "required": ["feature"], "properties": {"feature": {"type": "string"}}}, run)


def _numeric_stats_sql(feature: str) -> str:
    return (f"SELECT '{feature}' AS feature, count(*) AS customers, count(*) - count({feature}) AS missing, "
            f"avg({feature}) AS mean, stddev({feature}) AS standard_deviation, min({feature}) AS minimum, "
            f"approx_percentile({feature}, 0.25) AS first_quartile, approx_percentile({feature}, 0.5) AS median, "
            f"approx_percentile({feature}, 0.75) AS third_quartile, max({feature}) AS maximum "
            f"FROM {CUSTOMERS}")


def what_if_tool(s3, buckets: Buckets) -> Tool:
    scenarios = {scenario.name: scenario.description for scenario in SCENARIOS}

    def run(request: dict, seconds_left: float) -> dict:
        name = str(request.get("scenario", ""))
        if name not in scenarios:
            raise ToolRefused(f"unknown scenario {name!r}: one of " + ", ".join(scenarios))
        run_id = _published_run_id(s3, buckets)
        location = Run(run_id, buckets).location("inference_summary")
        summary = json.loads(s3.get_object(Bucket=location.bucket, Key=location.key)["Body"].read())
        scored = {result["name"]: result for result in summary.get("what_if", [])}
        if name not in scored:
            raise ToolRefused(f"the published run {run_id} did not score scenario {name!r}")
        return {**scored[name], "run_id": run_id,
                "source": f"what-if scored by Inference with run {run_id}'s models: {location}"}

    return Tool(
        "what_if",
        "A counterfactual scored with the published run's trained models (not a correlation): the changed customers "
        "scored again, engagement, expected churners and lifetime value before and after. Scenarios: "
        + "; ".join(f"{name} ({description})" for name, description in scenarios.items()) + ".",
        {"type": "object", "required": ["scenario"],
         "properties": {"scenario": {"type": "string", "enum": list(scenarios)}}}, run)


KNOWLEDGE_RESULTS = 5


def search_knowledge_base_tool(agent_runtime, s3, buckets: Buckets, knowledge_base_id: str) -> Tool:
    def run(request: dict, seconds_left: float) -> dict:
        query = str(request.get("query", "")).strip()
        if not query:
            raise ToolRefused("query is empty")
        run_id = _published_run_id(s3, buckets)
        found = agent_runtime.retrieve(knowledgeBaseId=knowledge_base_id, retrievalQuery={"text": query[:1000]},
                                       retrievalConfiguration={"vectorSearchConfiguration": {
                                           "numberOfResults": KNOWLEDGE_RESULTS,
                                           "filter": {"equals": {"key": "run_id", "value": run_id}}}})
        results = [{"text": r["content"]["text"], "document": r["location"]["s3Location"]["uri"],
                    "score": r.get("score")} for r in found["retrievalResults"]]
        sources = list(dict.fromkeys(result["document"] for result in results))
        return {"results": results, "run_id": run_id,
                "source": "knowledge base: " + (", ".join(sources) or f"nothing found for {query!r}")}

    return Tool(
        "search_knowledge_base",
        "Search the published run's documents: model performance (R², RMSE, ROC-AUC, overfitting check), features "
        "ranked by importance, data quality and quarantine, per-feature statistics, a predictions summary (segments, "
        "churn flags), what-if results, and the data dictionary.",
        {"type": "object", "required": ["query"], "properties": {"query": {"type": "string"}}}, run)


def _published_run_id(s3, buckets: Buckets) -> str:
    pointer = read_pointer(s3, buckets)
    if pointer is None:
        raise ToolRefused("no run has been published yet")
    return pointer["run_id"]
