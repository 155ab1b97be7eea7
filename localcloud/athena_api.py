"""Athena's query API on the local cloud's endpoint, answered by DuckDB over the Glue catalog.

moto records StartQueryExecution and answers GetQueryResults with no rows. Installed, the
statement starts on the local cloud's Athena (`LocalCloud.query_result`) in a worker thread, as
Athena runs queries: StartQueryExecution answers at once; GetQueryExecution reports RUNNING until
the outcome is kept on moto's execution record, then SUCCEEDED or FAILED with Athena's reason;
StopQueryExecution interrupts the running statement and the query ends CANCELLED.
GetQueryResults pages the rows as Athena does: a header row first, at most 1,000 rows a page
(MaxResults), NextToken to continue, NULL as an empty datum. Workgroups, named queries and the
rest stay moto's.
"""

import json
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from moto.athena.models import AthenaBackend
from moto.athena.responses import AthenaResponse

from localcloud.athena_duckdb import AthenaSqlError

PAGE = 1000  # Athena's largest MaxResults
CONCURRENT_QUERIES = 8  # queries running at once; more wait QUEUED, as over Athena's concurrency quota


@dataclass(frozen=True)
class Outcome:
    columns: list[tuple[str, str]]  # (name, Athena type)
    rows: list[tuple]
    error: str | None = None


_cloud = None  # the LocalCloud that installed the API (moto's backends are process-wide)
_queries = ThreadPoolExecutor(CONCURRENT_QUERIES, thread_name_prefix="athena-query")


def install(cloud) -> None:
    global _cloud
    _cloud = cloud
    if getattr(AthenaBackend.start_query_execution, "local", False):
        return
    AthenaBackend.start_query_execution = _started(AthenaBackend.start_query_execution)
    AthenaBackend.get_query_execution = _settled(AthenaBackend.get_query_execution)
    AthenaBackend.stop_query_execution = _stopped(AthenaBackend.stop_query_execution)
    AthenaResponse.get_query_execution = _with_reason(AthenaResponse.get_query_execution)
    AthenaResponse.get_query_results = _paged_results


def _started(start):
    def start_query_execution(self, query, context, config, workgroup, execution_parameters):
        workgroup = workgroup or "primary"
        execution_id = start(self, query, context, config, workgroup, execution_parameters)
        caller = _cloud.iam.current_session()  # this request's; the worker thread has none
        execution = self.executions[execution_id]
        execution._transitions, execution._status = [], "RUNNING"  # the outcome moves it on, not moto's clock
        execution.local_future = _queries.submit(_outcome_of, query, (context or {}).get("Database"), workgroup,
                                                 caller, execution_id)
        return execution_id

    start_query_execution.local = True
    return start_query_execution


def _outcome_of(query: str, database: str | None, workgroup: str, caller, execution_id: str) -> Outcome:
    try:
        columns, rows = _cloud.query_result(query, database, workgroup, caller=caller, query_id=execution_id)
        return Outcome(columns, rows)
    except AthenaSqlError as error:
        return Outcome([], [], error=str(error))


def _settled(get):
    def get_query_execution(self, exec_id):
        execution = get(self, exec_id)
        outcome = _finished(execution)
        if outcome is not None and execution._status != "CANCELLED":
            execution._status = "FAILED" if outcome.error else "SUCCEEDED"
        return execution

    return get_query_execution


def _stopped(stop):
    def stop_query_execution(self, exec_id):
        execution = self.executions.get(exec_id)
        if execution is not None and _finished(execution) is None:
            _cloud.stop_query(exec_id)
            stop(self, exec_id)  # moto marks it CANCELLED
        return None

    return stop_query_execution


def _finished(execution) -> Outcome | None:
    future: Future | None = getattr(execution, "local_future", None)
    return future.result() if future is not None and future.done() else None


def _with_reason(respond):
    def get_query_execution(self):
        answer = json.loads(respond(self))
        outcome = _outcome(self, self._get_param("QueryExecutionId"))
        if outcome is not None and outcome.error:
            answer["QueryExecution"]["Status"]["StateChangeReason"] = outcome.error
            answer["QueryExecution"]["Status"]["AthenaError"] = {"ErrorCategory": 2, "ErrorType": 1006,
                                                                 "Retryable": False, "ErrorMessage": outcome.error}
        return json.dumps(answer)

    return get_query_execution


def _paged_results(self) -> str | tuple[str, dict]:
    exec_id = self._get_param("QueryExecutionId")
    execution = self.athena_backend.executions.get(exec_id)
    if execution is None:
        return self.error(f"QUERY_NOT_FOUND: {exec_id}", 400)
    outcome = _finished(execution)
    if outcome is None or outcome.error:
        state = "RUNNING" if outcome is None else "FAILED"
        return self.error(f"Query has not yet finished. Current state: {state}"
                          + (f" ({outcome.error})" if outcome is not None else ""), 400)
    limit = min(int(self._get_param("MaxResults") or PAGE), PAGE)
    start = int(self._get_param("NextToken") or 0)
    header = [tuple(name for name, _ in outcome.columns)] if outcome.columns else []
    every = header + outcome.rows
    page = every[start:start + limit]
    answer = {"ResultSet": {"Rows": [{"Data": [_datum(value) for value in row]} for row in page],
                            "ResultSetMetadata": {"ColumnInfo": [
                                {"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": name,
                                 "Label": name, "Type": kind, "Precision": 0, "Scale": 0, "Nullable": "UNKNOWN",
                                 "CaseSensitive": kind == "string"} for name, kind in outcome.columns]}},
              "UpdateCount": 0}
    if start + limit < len(every):
        answer["NextToken"] = str(start + limit)
    return json.dumps(answer)


def _outcome(response: AthenaResponse, exec_id: str) -> Outcome | None:
    execution = response.athena_backend.executions.get(exec_id)
    return _finished(execution) if execution is not None else None


def _datum(value) -> dict:
    return {} if value is None else {"VarCharValue": value if isinstance(value, str) else str(value)}
