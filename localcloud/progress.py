"""Live progress from the execution history, and the run's summary.

Nothing here knows the app: a state's counts are the whole numbers its Lambda returned, or the
rows of the table its Athena statement created; the summary shows the execution's output as the
state machine left it, and the views the catalog holds.
"""

import json
import re
from collections.abc import Callable
from datetime import datetime, timezone

CTAS = re.compile(r"\s*CREATE\s+TABLE\s+(\w+\.\w+)", re.IGNORECASE)
SHOWN_OUTPUT_LINES = 40  # of the execution's output, flattened
SHOWN_VALUE_CHARS = 100


class Progress:
    HEARTBEAT_S = 30  # a line at least this often while tasks run (a 1M CacheLoad takes minutes)

    def __init__(self, describe_map_run: Callable[[str], dict] | None = None) -> None:
        """`describe_map_run`: Step Functions' DescribeMapRun, for the shards done of a fanned-out state."""
        self.describe_map_run = describe_map_run
        self.map_runs: dict[str, str] = {}  # Map state -> its map run's ARN, while it runs
        self.shown_items: dict[str, tuple] = {}  # Map state -> the item counts last printed
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
        if kind == "MapRunStarted":
            self.map_runs[owner] = event["mapRunStartedEventDetails"]["mapRunArn"]
        elif kind == "TaskScheduled":
            self.parameters[owner] = json.loads(event["taskScheduledEventDetails"]["parameters"])
        elif kind == "TaskSucceeded":
            self.results[owner] = json.loads(event["taskSucceededEventDetails"]["output"])
        elif kind.endswith("StateExited"):
            name = event["stateExitedEventDetails"]["name"]
            if name in self.map_runs:
                self.shards_done()
                del self.map_runs[name]
            seconds = (event["timestamp"] - self.entered.pop(name, event["timestamp"])).total_seconds()
            status = "FAILED" if name in self.failures else "ok"
            self.states.append({"state": name, "seconds": round(seconds, 2), "status": status})
            self._print(f"  < {name:28s} {seconds:7.1f} s  {status}")
        elif kind in ("TaskFailed", "ExecutionFailed"):
            details = event.get("taskFailedEventDetails") or event.get("executionFailedEventDetails") or {}
            last = owner or next(reversed(self.entered), "?")
            self.failures[last] = f"{details.get('error')}: {str(details.get('cause'))[:300]}"
            self._print(f"  ! {last}: {details.get('error')} {str(details.get('cause'))[:200]}")

    def shards_done(self) -> None:
        """A line for each fanned-out state whose items moved on: shards done / total."""
        for state, arn in self.map_runs.items():
            items = self.describe_map_run(arn)["itemCounts"] if self.describe_map_run else None
            if not items:
                continue
            counts = (items["succeeded"], items["failed"] + items["timedOut"] + items["aborted"], items["total"])
            if counts != self.shown_items.get(state) and counts[2]:
                self.shown_items[state] = counts
                failed = f", {counts[1]:,} failed" if counts[1] else ""
                self._print(f"  … {state}: {counts[0]:,}/{counts[2]:,} shards done{failed}")

    def heartbeat(self, now: datetime | None = None) -> None:
        """Between events: the shards done of a fanned-out state as they move; which tasks are
        still running, at most every HEARTBEAT_S seconds."""
        self.shards_done()
        now = now or datetime.now(timezone.utc)
        if (now - self.last_line).total_seconds() < self.HEARTBEAT_S:
            return
        running = [f"{name} {(now - started).total_seconds():.0f} s" for name, started in self.entered.items()
                   if name in self.parameters]
        if running:
            self._print("  … running: " + ", ".join(running))

    def counts(self, state: str, count_rows: Callable[[str], int | None]) -> str:
        """What a state counted: its Lambda's whole-number results, or its CTAS table's rows."""
        payload = self.results.get(state, {}).get("Payload")
        if isinstance(payload, dict):
            return ", ".join(f"{key} {value:,}" for key, value in payload.items()
                             if isinstance(value, int) and not isinstance(value, bool))
        created = CTAS.match(self.parameters.get(state, {}).get("QueryString", ""))
        if created and state in self.results:
            count = count_rows(created[1])
            return f"{count:,} rows in {created[1]}" if count is not None else ""
        return ""

    def summary(self, result: dict, wall_seconds: float, views: list[str],
                count_rows: Callable[[str], int | None] = lambda table: None) -> dict:
        for state in self.states:
            state["counts"] = self.counts(state["state"], count_rows)
        return {
            "execution": result["name"],
            "status": result["status"],
            "error": result.get("error"),
            "cause": (result.get("cause") or "")[:2000] or None,
            "execution_seconds": round((result["stopDate"] - result["startDate"]).total_seconds(), 1),
            "wall_seconds": round(wall_seconds, 1),
            "states": self.states,
            "failed_states": self.failures,
            "output": json.loads(result.get("output") or "null"),
            "views": views,
        }

    @staticmethod
    def print_summary(summary: dict) -> None:
        print(f"\nexecution {summary['execution']}: {summary['status']} in {summary['execution_seconds']} s "
              f"({summary['wall_seconds']} s with set-up and data generation)")
        print(f"\n  {'state':28s} {'seconds':>8s}  {'status':6s}  counts")
        for state in summary["states"]:
            line = f"  {state['state']:28s} {state['seconds']:8.1f}  {state['status']:6s}  {state.get('counts', '')}"
            print(line.rstrip())
        if "iam" in summary:
            iam = summary["iam"]
            print(f"\n  IAM enforced: {iam['decisions']:,} decisions in {iam.get('seconds', 0):.1f} s, {iam['denials']} "
                  "denied (per role, used and unused grants: .venv/bin/python -m localcloud iam-report)")
        if summary["status"] != "SUCCEEDED":
            print(f"\n  error: {summary['error']}\n  {summary['cause']}")
            for state, reason in summary["failed_states"].items():
                print(f"  {state}: {reason}")
            return
        lines = flattened(summary["output"])
        print("\n  the execution's output:")
        for key, value in lines[:SHOWN_OUTPUT_LINES]:
            print(f"    {key:44s} {value}")
        if len(lines) > SHOWN_OUTPUT_LINES:
            print(f"    … {len(lines) - SHOWN_OUTPUT_LINES} more in .localcloud/last-run.json")
        if summary["views"]:
            print("\n  views: " + ", ".join(summary["views"]))
            print(f'  query them:  .venv/bin/python -m localcloud sql "SELECT * FROM {summary["views"][0]} LIMIT 10"')


def flattened(value, prefix: str = "") -> list[tuple[str, str]]:
    """(dotted key, shown value) for each number, string and flag in a JSON document."""
    if isinstance(value, dict):
        return [line for key, inner in value.items() for line in flattened(inner, f"{prefix}{key}.")]
    if isinstance(value, list) or value is None:
        return []
    shown = f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)
    return [(prefix.rstrip("."), shown if len(shown) <= SHOWN_VALUE_CHARS else shown[:SHOWN_VALUE_CHARS] + "…")]
