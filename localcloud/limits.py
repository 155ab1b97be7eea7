"""A process run within a memory and time limit, as Lambda and ECS run their code.

`run_limited` kills the process when it and its children outgrow `memory_mb` (the memory they
allocate — anonymous and shared resident pages — sampled every 50 ms; not the interpreter's
binary and libraries mapped from disk, which Lambda's runtime image and a container image share
read-only) or outlive `timeout_s`, raising Exceeded; otherwise it returns the exit
code, stdout, and appends Lambda's `REPORT … Max Memory Used` line to the log.
"""

import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path


class ServiceError(Exception):
    """A failure as the service reports it to Step Functions: an error name and its cause."""

    def __init__(self, error: str, cause: str) -> None:
        super().__init__(f"{error}: {cause}")
        self.error, self.cause = error, cause


class Exceeded(Exception):
    def __init__(self, limit: str, detail: str) -> None:
        super().__init__(detail)
        self.limit = limit  # "memory" or "time"


@dataclass(frozen=True)
class Finished:
    returncode: int
    stdout: str
    log: str  # stderr, as the function's log


_LOG_WRITES = threading.Lock()


def run_limited(argv: list[str], environment: dict[str, str], *, log: Path, memory_mb: int, timeout_s: float,
                stdin: str = "", cwd: Path | None = None) -> Finished:
    log.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=out, stderr=err, text=True,
                                   env=environment, cwd=str(cwd) if cwd else None)
        process.stdin.write(stdin)
        process.stdin.close()
        started = time.monotonic()
        peak = _watch(process, memory_mb, timeout_s)
        out.seek(0)
        output = out.read()
        if not isinstance(peak, Exceeded):
            err.write(report_line(time.monotonic() - started, memory_mb, peak))
        err.seek(0)
        errors = err.read()
    # Runs of the same task (shards, side by side) append to one log, each run's lines together.
    with _LOG_WRITES, log.open("a") as kept:
        kept.write(errors)
    if isinstance(peak, Exceeded):
        raise peak
    return Finished(process.returncode, output, errors)


def error_of(output: str) -> tuple[str, str]:
    """(error name, cause): the exception class of the last line of a traceback, as Lambda reports it."""
    last = [line for line in output.strip().splitlines()
            if line.strip() and not line.startswith("REPORT ")][-1:] or ["failed"]
    name = last[0].split(":", 1)[0].rsplit(".", 1)[-1].strip()
    return (name if name and name.replace("_", "").isalnum() else "TaskFailed"), output.strip()[-4000:]


def report_line(duration_s: float, memory_mb: int, peak: int, request_id: str | None = None) -> str:
    """Lambda's REPORT line: the duration and the headroom, measured."""
    request = f"RequestId: {request_id} " if request_id else ""
    return (f"REPORT {request}Duration: {duration_s * 1000:.0f} ms "
            f"Memory Size: {memory_mb} MB Max Memory Used: {peak / 2**20:.0f} MB\n")


def sample(pid: int, started: float, memory_mb: int, timeout_s: float, peak: int) -> tuple[int, Exceeded | None]:
    """One look at a watched process (and its children): the new peak (bytes), and Exceeded once
    it has outgrown `memory_mb` or outlived `timeout_s` since `started` (time.monotonic())."""
    peak = max(peak, allocated_memory(pid))
    if peak > memory_mb * 2**20:
        return peak, Exceeded("memory", f"used {peak / 2**20:,.0f} MB of its {memory_mb:,} MB")
    if time.monotonic() - started > timeout_s:
        return peak, Exceeded("time", f"Task timed out after {timeout_s:.2f} seconds")
    return peak, None


def _watch(process: subprocess.Popen, memory_mb: int, timeout_s: float) -> int | Exceeded:
    """Wait for `process`; its peak memory (bytes, the process and its children), or Exceeded."""
    started, peak = time.monotonic(), 0
    while process.poll() is None:
        peak, exceeded = sample(process.pid, started, memory_mb, timeout_s, peak)
        if exceeded:
            process.kill()
            process.wait()
            return exceeded
        time.sleep(0.05)
    return peak


def allocated_memory(pid: int) -> int:
    """Allocated resident memory (RssAnon + RssShmem) of a process and its descendants (Linux /proc;
    0 where unreadable)."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += sum(int(line.split()[1]) for line in status.splitlines()
                         if line.startswith(("RssAnon:", "RssShmem:"))) * 1024
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total
