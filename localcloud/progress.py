"""Live progress from the execution history, and the run's summary."""

import json
import re
from collections.abc import Callable
from datetime import datetime, timezone

CTAS = re.compile(r"\s*CREATE\s+TABLE\s+(\w+\.\w+)", re.IGNORECASE)


class Progress:
    HEARTBEAT_S = 30  # a line at least this often while tasks run (a 1M CacheLoad takes minutes)

    def __init__(self) -> None:
        self.entered: dict[str, datetime] = {}
        self.states: list[dict] = []
        self.failures: dict[str, str] = {}
        self.owner: dict[int, str | None] = {}  # event id -> the state it belongs to (Parallel branches interleave)
        self.parameters: dict[str, dict] = {}  # state -> its task's parameters
        self.results: dict[str, dict] = {}  # state -> its task's output
        self.last_line = datetime.now(timezone.utc)

    def _print(self, line: str) -> None:
        print(line, flush=True)
        self.last_line = datetime.now(timezone.utc)

    def event(self, event: dict) -> None:
        kind = event["type"]
        if kind.endswith("StateEntered"):
            name = event["stateEnteredEventDetails"]["name"]
            self.owner[event["id"]] = name
            self.entered[name] = event["timestamp"]
            self._print(f"  > {name}")
            return
        self.owner[event["id"]] = owner = self.owner.get(event.get("previousEventId"))
        if kind == "TaskScheduled":
            self.parameters[owner] = json.loads(event["taskScheduledEventDetails"]["parameters"])
        elif kind == "TaskSucceeded":
            self.results[owner] = json.loads(event["taskSucceededEventDetails"]["output"])
        elif kind.endswith("StateExited"):
            name = event["stateExitedEventDetails"]["name"]
            seconds = (event["timestamp"] - self.entered.pop(name, event["timestamp"])).total_seconds()
            status = "FAILED" if name in self.failures else "ok"
            self.states.append({"state": name, "seconds": round(seconds, 2), "status": status})
            self._print(f"  < {name:28s} {seconds:7.1f} s  {status}")
        elif kind in ("TaskFailed", "ExecutionFailed"):
            details = event.get("taskFailedEventDetails") or event.get("executionFailedEventDetails") or {}
            last = owner or next(reversed(self.entered), "?")
            self.failures[last] = f"{details.get('error')}: {str(details.get('cause'))[:300]}"
            self._print(f"  ! {last}: {details.get('error')} {str(details.get('cause'))[:200]}")

    def heartbeat(self, now: datetime | None = None) -> None:
        """Between events: say which tasks are still running, at most every HEARTBEAT_S seconds."""
        now = now or datetime.now(timezone.utc)
        if (now - self.last_line).total_seconds() < self.HEARTBEAT_S:
            return
        running = [f"{name} {(now - started).total_seconds():.0f} s" for name, started in self.entered.items()
                   if name in self.parameters]
        if running:
            self._print("  … running: " + ", ".join(running))

    def rows(self, state: str, count_rows: Callable[[str], int | None]) -> str:
        """Rows a state took in and gave out, where it says: a Lambda's counts, a CTAS's table."""
        payload = self.results.get(state, {}).get("Payload")
        payload = payload if isinstance(payload, dict) else {}
        if "rows_in" in payload:
            return f"{payload['rows_in']:,} -> {payload.get('rows_accepted', 0):,}"
        for key in ("items_written", "rows"):
            if isinstance(payload.get(key), int):
                return f"{payload[key]:,}"
        created = CTAS.match(self.parameters.get(state, {}).get("QueryString", ""))
        if created and state in self.results:
            count = count_rows(created[1])
            return f"{count:,}" if count is not None else ""
        return ""

    def summary(self, result: dict, cloud, wall_seconds: float,
                count_rows: Callable[[str], int | None] = lambda table: None) -> dict:
        for state in self.states:
            state["rows"] = self.rows(state["state"], count_rows)
        output = json.loads(result.get("output") or "{}")
        ingest = output.get("ingest", {})
        training = output.get("checks", {}).get("training", {})
        exports = cloud.deployment.exports
        buckets = {name.split("-", 1)[1].removesuffix("BucketName"): value for name, value in exports.items()
                   if name.endswith("BucketName")}
        return {
            "execution": result["name"],
            "status": result["status"],
            "error": result.get("error"),
            "cause": (result.get("cause") or "")[:2000] or None,
            "execution_seconds": round((result["stopDate"] - result["startDate"]).total_seconds(), 1),
            "wall_seconds": round(wall_seconds, 1),
            "states": self.states,
            "failed_states": self.failures,
            "rows_in": ingest.get("rows_in"),
            "rows_accepted": ingest.get("rows_accepted"),
            "rows_quarantined": ingest.get("rows_quarantined"),
            "rows_scored": output.get("outputs", {}).get("cache", {}).get("items_written"),
            "metrics": {"engagement_r2": training.get("engagement_r2"), "churn_roc_auc": training.get("churn_roc_auc")},
            "published": _published(cloud, output.get("published", {}).get("pointer")),
            "buckets": buckets,
        }

    @staticmethod
    def print_summary(summary: dict) -> None:
        print(f"\nexecution {summary['execution']}: {summary['status']} in {summary['execution_seconds']} s "
              f"({summary['wall_seconds']} s with set-up and data generation)")
        print(f"\n  {'state':28s} {'seconds':>8s}  {'status':6s}  rows")
        for state in summary["states"]:
            line = f"  {state['state']:28s} {state['seconds']:8.1f}  {state['status']:6s}  {state.get('rows', '')}"
            print(line.rstrip())
        if summary["status"] != "SUCCEEDED":
            print(f"\n  error: {summary['error']}\n  {summary['cause']}")
            for state, reason in summary["failed_states"].items():
                print(f"  {state}: {reason}")
            return
        print(f"\n  rows in {summary['rows_in']:,}, accepted {summary['rows_accepted']:,}, quarantined "
              f"{summary['rows_quarantined']:,}; scored and cached {summary['rows_scored']:,}")
        print(f"  engagement R² {summary['metrics']['engagement_r2']}, churn ROC-AUC {summary['metrics']['churn_roc_auc']}")
        published = summary["published"]
        print(f"\n  published run {published['run_id']} (previous: {published['previous_run_id']}), "
              f"pointer {published['pointer']}")
        print("  views: " + ", ".join(published["views"]))
        print(f"  predictions {published['predictions']}; knowledge base {published['knowledge_base']}")
        print('\n  query them:  .venv/bin/python -m localcloud sql "SELECT segment_name, count(*) AS customers, '
              'avg(churn_probability) AS churn FROM engagement_analytics.final_results GROUP BY 1 ORDER BY 2 DESC"')


def _published(cloud, pointer_uri: str | None) -> dict | None:
    """What the run published, as its pointer says (the pointer is the publish point)."""
    if not pointer_uri:
        return None
    bucket, key = pointer_uri.removeprefix("s3://").split("/", 1)
    pointer = json.loads(cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    return {"pointer": pointer_uri, **{k: pointer.get(k) for k in ("run_id", "previous_run_id", "views", "predictions",
                                                                   "knowledge_base")}}
