"""docs/benchmarks.md, written by the benchmark scripts (`--docs`): one section per benchmark,
replaced whole on every run, each with the command, the date, the commit and the machine that
produced it. Nothing in it is typed by hand, and it keeps no history (git does)."""

import datetime
import os
import platform
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs" / "benchmarks.md"
HEADER = ("# Benchmarks\n\nWritten by the benchmark scripts when run with `--docs`; each section is the last "
          "run of its command. Re-run the command to refresh a section.\n")


def commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()
    head = git("rev-parse", "--short", "HEAD") or "unknown"
    changed = git("status", "--porcelain", "--untracked-files=no", "--", ".", f":!{DOCS.relative_to(REPO)}")
    return head + (" with uncommitted changes" if changed else "")  # this page's own sections aside


def machine() -> str:
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return (f"{len(os.sched_getaffinity(0))} CPUs, {memory_gib:.0f} GiB, {platform.machine()}, "
            f"Python {platform.python_version()}")


def section(name: str, command: str, body: str, *, when: datetime.date | None = None, revision: str | None = None,
            host: str | None = None) -> str:
    when = when or datetime.date.today()
    return (f"<!-- begin {name} -->\n## {name}\n\n`{command}` — {when.isoformat()}, commit {revision or commit()}, "
            f"{host or machine()}\n\n{body.rstrip()}\n<!-- end {name} -->\n")


def record(name: str, command: str, body: str, path: Path = DOCS, **stamp) -> None:
    """Replace (or add) the benchmark's section of the benchmarks page."""
    text = path.read_text() if path.exists() else HEADER
    new = section(name, command, body, **stamp)
    begin, end = f"<!-- begin {name} -->", f"<!-- end {name} -->\n"
    if begin in text:
        before, rest = text.split(begin, 1)
        text = before + new + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + new
    path.write_text(text)


def table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    return "\n".join(lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows])
