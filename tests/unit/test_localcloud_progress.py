"""Per-state counts in the run summary come from the execution history, Parallel branches included;
the summary shows the execution's output as it is."""

import json
from datetime import datetime, timedelta, timezone

from localcloud.progress import Progress, flattened

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)

START = datetime(2026, 11, 22, 6, 0, 0, tzinfo=timezone.utc)


def history() -> list[dict]:
    """Ingest, then a Parallel whose two branches (a CTAS and CacheLoad) interleave."""
    raw = [
        (1, 0, "TaskStateEntered", {"name": "Ingest"}),
        (2, 1, "TaskScheduled", {"parameters": json.dumps({"FunctionName": "Ingest"})}),
        (3, 2, "TaskSucceeded", {"output": json.dumps({"Payload": {"rows_in": 1_000, "rows_accepted": 990}})}),
        (4, 3, "TaskStateExited", {"name": "Ingest"}),
        (5, 4, "ParallelStateEntered", {"name": "BuildOutputs"}),
        (6, 5, "TaskStateEntered", {"name": "CreateResultsTable"}),
        (7, 5, "TaskStateEntered", {"name": "CacheLoad"}),
        (8, 6, "TaskScheduled", {"parameters": json.dumps(
            {"QueryString": "CREATE TABLE engagement_analytics.final_results_r1 WITH (format = 'PARQUET') AS SELECT 1"})}),
        (9, 7, "TaskScheduled", {"parameters": json.dumps({"FunctionName": "CacheLoad"})}),
        (10, 9, "TaskSucceeded", {"output": json.dumps({"Payload": {"items_written": 990}})}),
        (11, 8, "TaskSucceeded", {"output": json.dumps({"QueryExecution": {"Status": {"State": "SUCCEEDED"}}})}),
        (12, 11, "TaskStateExited", {"name": "CreateResultsTable"}),
        (13, 10, "TaskStateExited", {"name": "CacheLoad"}),
    ]
    detail_key = {"TaskScheduled": "taskScheduledEventDetails", "TaskSucceeded": "taskSucceededEventDetails"}
    events = []
    for event_id, previous, kind, details in raw:
        key = ("stateEnteredEventDetails" if kind.endswith("Entered") else
               "stateExitedEventDetails" if kind.endswith("Exited") else detail_key[kind])
        events.append({"id": event_id, "previousEventId": previous, "type": kind, key: details,
                       "timestamp": START + timedelta(seconds=event_id)})
    return events


def test_rows_per_state_follow_each_task_to_its_state(capsys):
    progress = Progress()
    for event in history():
        progress.event(event)
    counted = []

    def count_rows(table: str) -> int:
        counted.append(table)
        return 990

    assert progress.counts("Ingest", count_rows) == "rows_in 1,000, rows_accepted 990"
    assert progress.counts("CacheLoad", count_rows) == "items_written 990"
    assert progress.counts("CreateResultsTable", count_rows) == "990 rows in engagement_analytics.final_results_r1"
    assert counted == ["engagement_analytics.final_results_r1"]
    assert progress.counts("BuildOutputs", count_rows) == ""
    assert "< CacheLoad" in capsys.readouterr().out


def test_a_heartbeat_names_the_tasks_still_running(capsys):
    progress = Progress()
    for event in history()[:9]:  # both branches scheduled, neither finished
        progress.event(event)
    capsys.readouterr()
    progress.last_line = START + timedelta(seconds=9)  # the last line printed, as the events arrived
    progress.heartbeat(now=START + timedelta(seconds=30))
    assert capsys.readouterr().out == ""
    progress.heartbeat(now=START + timedelta(seconds=67))
    assert capsys.readouterr().out == "  … running: CreateResultsTable 61 s, CacheLoad 60 s\n"


def test_the_summary_shows_the_output_and_the_views_whatever_the_app(capsys):
    progress = Progress()
    for event in history():
        progress.event(event)
    output = {"run": {"id": "r1"}, "loaded": {"items": 990, "ok": True, "files": ["a"]}, "note": "x" * 300}
    result = {"name": "local-1", "status": "SUCCEEDED", "output": json.dumps(output), "startDate": START,
              "stopDate": START + timedelta(seconds=13)}
    summary = progress.summary(result, wall_seconds=20.0, views=["analytics.results"])
    assert summary["output"] == output and summary["execution_seconds"] == 13.0
    Progress.print_summary(summary)
    printed = capsys.readouterr().out
    assert "loaded.items" in printed and "990" in printed and "analytics.results LIMIT 10" in printed
    assert flattened(output) == [("run.id", "r1"), ("loaded.items", "990"), ("loaded.ok", "True"),
                                 ("note", "x" * 100 + "…")]


def test_a_fanned_out_state_shows_its_shards_done_as_they_move(capsys):
    counts = iter([(0, 0), (1, 0), (1, 0), (2, 1), (3, 1)])

    def describe_map_run(arn):
        assert arn == "arn:aws:states:us-east-1:1:mapRun:machine/ScoreShards:abc"
        succeeded, failed = next(counts)
        return {"itemCounts": {"succeeded": succeeded, "failed": failed, "timedOut": 0, "aborted": 0, "total": 4}}

    progress = Progress(describe_map_run=describe_map_run)
    progress.event({"id": 1, "previousEventId": 0, "type": "MapStateEntered", "timestamp": NOW,
                    "stateEnteredEventDetails": {"name": "ScoreShards"}})
    progress.event({"id": 2, "previousEventId": 1, "type": "MapRunStarted", "timestamp": NOW,
                    "mapRunStartedEventDetails": {"mapRunArn": "arn:aws:states:us-east-1:1:mapRun:machine/ScoreShards:abc"}})
    for _ in range(4):
        progress.heartbeat(NOW)
    progress.event({"id": 3, "previousEventId": 2, "type": "MapStateExited", "timestamp": NOW,
                    "stateExitedEventDetails": {"name": "ScoreShards"}})
    lines = [line for line in capsys.readouterr().out.splitlines() if "shards done" in line]
    assert lines == ["  … ScoreShards: 0/4 shards done", "  … ScoreShards: 1/4 shards done",
                     "  … ScoreShards: 2/4 shards done, 1 failed", "  … ScoreShards: 3/4 shards done, 1 failed"]
    progress.heartbeat(NOW)  # the map has ended: nothing more is asked
