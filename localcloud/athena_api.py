"""Athena's query API on the local cloud's endpoint, answered by DuckDB over the Glue catalog.

moto records StartQueryExecution and answers GetQueryResults with no rows. Installed, the
statement runs on the local cloud's Athena when it is started (`LocalCloud.query_result`), its
outcome kept on moto's execution record, so GetQueryExecution reports SUCCEEDED or FAILED with
Athena's reason, and
GetQueryResults pages the rows as Athena does: a header row first, at most 1,000 rows a page
(MaxResults), NextToken to continue, NULL as an empty datum. Workgroups, named queries and the
rest stay moto's.
"""

import json
from dataclasses import dataclass

from moto.athena.models import AthenaBackend
from moto.athena.responses import AthenaResponse

from localcloud.athena_duckdb import AthenaSqlError

PAGE = 1000  # Athena's largest MaxResults


@dataclass(frozen=True)
class Outcome:
    columns: list[tuple[str, str]]  # (name, Athena type)
    rows: list[tuple]
    error: str | None = None


_cloud = None  # the LocalCloud that installed the API (moto's backends are process-wide)


def install(cloud) -> None:
    global _cloud
    _cloud = cloud
    if getattr(AthenaBackend.start_query_execution, "local", False):
        return
    AthenaBackend.start_query_execution = _started(AthenaBackend.start_query_execution)
    AthenaBackend.get_query_execution = _settled(AthenaBackend.get_query_execution)
    AthenaResponse.get_query_execution = _with_reason(AthenaResponse.get_query_execution)
    AthenaResponse.get_query_results = _paged_results


def _started(start):
    def start_query_execution(self, query, context, config, workgroup, execution_parameters):
        execution_id = start(self, query, context, config, workgroup, execution_parameters)
        try:
            columns, rows = _cloud.query_result(query, (context or {}).get("Database"), workgroup or "primary",
                                                caller=_cloud.iam.current_session())
            outcome = Outcome(columns, rows)
        except AthenaSqlError as error:
            outcome = Outcome([], [], error=str(error))
        self.executions[execution_id].local_outcome = outcome
        return execution_id

    start_query_execution.local = True
    return start_query_execution


def _settled(get):
    def get_query_execution(self, exec_id):
        execution = get(self, exec_id)
        outcome = getattr(execution, "local_outcome", None)
        if outcome is not None:  # it ran to the end when it was started
            execution._status = "FAILED" if outcome.error else "SUCCEEDED"
        return execution

    return get_query_execution


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
    outcome = _outcome(self, exec_id)
    if outcome is None:
        return self.error(f"QUERY_NOT_FOUND: {exec_id}", 400)
    if outcome.error:
        return self.error(f"Query has not yet finished. Current state: FAILED ({outcome.error})", 400)
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
    return getattr(execution, "local_outcome", None)


def _datum(value) -> dict:
    return {} if value is None else {"VarCharValue": value if isinstance(value, str) else str(value)}
