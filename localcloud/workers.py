"""Warm execution environments for Python Lambda functions, as Lambda keeps them.

A worker is one process per execution environment: it imports the handler once (the init phase)
and then answers invocations one at a time, so module-level state (clients, loaded libraries)
carries over between invocations exactly as on Lambda. An idle worker of the same function
version is reused; concurrent invocations get separate workers. Each invocation is held to the
function's memory (the worker's allocated resident memory — RssAnon + RssShmem, sampled every
50 ms) and timeout: a worker that exceeds either is killed and the invocation fails with
`Runtime.OutOfMemory` or `Sandbox.Timedout`, as on Lambda, and the next invocation starts a new
one. A handler exception fails only its invocation (the error type, message and stack trace are
reported as Lambda reports them); the worker stays warm. Logs (stdout and stderr) are appended to
the function's log with a `REPORT` line per invocation, as CloudWatch Logs receives them.
"""

import json
import os
import select
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from localcloud.functions import (
    DeployedFunction,
    FunctionError,
    Invocation,
    lambda_environment,
    lambda_error,
    python_runtime_path,
)
from localcloud.limits import report_line, sample

WORKER = r"""
import importlib, json, os, sys, time, traceback
channel = os.fdopen(int(sys.argv[3]), "w")  # outcomes; stdout and stderr are the function's log
module_name, function_name = sys.argv[1].rsplit(".", 1)

class Context:
    def __init__(self, request):
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
        self.invoked_function_arn = sys.argv[2]
        self.aws_request_id = request["id"]
        self.log_group_name = "/aws/lambda/" + self.function_name
        self._deadline = request["deadline"]
    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.time()) * 1000))

def failure(error_type, error):
    return {"errorType": error_type, "errorMessage": str(error),
            "stackTrace": traceback.format_tb(error.__traceback__)}

try:
    handler, init_error = getattr(importlib.import_module(module_name), function_name), None
except Exception as error:
    traceback.print_exc()
    handler, init_error = None, failure("Runtime.ImportModuleError", error)
for line in sys.stdin:
    request = json.loads(line)
    if init_error:
        outcome = {"error": init_error}
    else:
        try:
            outcome = {"result": handler(request["event"], Context(request))}
        except Exception as error:
            traceback.print_exc()
            outcome = {"error": failure(type(error).__name__, error)}
    sys.stdout.flush()
    channel.write(json.dumps(outcome, default=str) + "\n")
    channel.flush()
"""


@dataclass(eq=False)  # identity: each worker is one process
class _Worker:
    process: subprocess.Popen
    channel: int  # the read end of the pipe the worker writes outcomes to
    log: Path
    buffer: bytes = b""

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.process.kill()
        self.process.wait()
        os.close(self.channel)


@dataclass
class WarmWorkers:
    """The warm workers of every Python function one local cloud runs."""

    log_dir: Path
    _idle: dict[tuple, list[_Worker]] = field(default_factory=dict)
    _every: set = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    started: int = 0  # workers started (init phases) since the cloud began

    def invoke(self, function: DeployedFunction, event: dict, *, environment: dict[str, str],
               timeout_s: float | None = None) -> Invocation:
        key = _version(function)
        worker = self._acquire(key, function, environment)
        timeout = min(function.timeout_s, timeout_s or float("inf"))
        try:
            outcome = _call(worker, function, event, timeout)
        except FunctionError:
            self._discard(worker)
            raise
        with self._lock:
            self._idle.setdefault(key, []).append(worker)
        if "error" in outcome:
            raise FunctionError(outcome["error"]["errorType"], json.dumps(outcome["error"]))
        return Invocation(result=outcome["result"], response=None)

    def close(self) -> None:
        with self._lock:
            every, self._every, self._idle = list(self._every), set(), {}
        for worker in every:
            worker.kill()

    def _acquire(self, key: tuple, function: DeployedFunction, environment: dict[str, str]) -> _Worker:
        with self._lock:
            idle = self._idle.get(key, [])
            while idle:
                worker = idle.pop()
                if worker.alive():
                    return worker
                self._every.discard(worker)
            self.started += 1
        worker = _start(function, environment, self.log_dir / f"{function.name}.log")
        with self._lock:
            self._every.add(worker)
        return worker

    def _discard(self, worker: _Worker) -> None:
        with self._lock:
            self._every.discard(worker)
        worker.kill()


def _version(function: DeployedFunction) -> tuple:
    """What makes an execution environment reusable: the same code, layers and configuration."""
    return (function.arn, function.code, function.layers, function.handler, function.memory_mb, function.timeout_s,
            tuple(sorted(function.environment.items())))


def _start(function: DeployedFunction, environment: dict[str, str], log: Path) -> _Worker:
    log.parent.mkdir(parents=True, exist_ok=True)
    read_end, write_end = os.pipe()
    process_environment = {**environment, **function.environment, **lambda_environment(function),
                           "PYTHONPATH": python_runtime_path(function), "PYTHONUNBUFFERED": "1",
                           "POWERTOOLS_TRACE_DISABLED": "true"}
    with log.open("a") as output:
        process = subprocess.Popen(
            [sys.executable, "-S", "-c", WORKER, function.handler, function.arn, str(write_end)],
            stdin=subprocess.PIPE, stdout=output, stderr=subprocess.STDOUT, env=process_environment,
            cwd=function.code, pass_fds=(write_end,), text=True)
    os.close(write_end)
    return _Worker(process=process, channel=read_end, log=log)


def _call(worker: _Worker, function: DeployedFunction, event: dict, timeout_s: float) -> dict:
    """One invocation on `worker`: its outcome, or FunctionError when a limit killed it."""
    started, peak = time.monotonic(), 0
    request = {"id": str(uuid.uuid4()), "event": event, "deadline": time.time() + timeout_s}
    worker.process.stdin.write(json.dumps(request) + "\n")
    worker.process.stdin.flush()
    while b"\n" not in worker.buffer:
        peak, exceeded = sample(worker.process.pid, started, function.memory_mb, timeout_s, peak)
        if exceeded:
            raise lambda_error(function, exceeded)
        if not worker.alive() and not select.select([worker.channel], [], [], 0)[0]:
            raise FunctionError("Runtime.ExitError", f"{function.name}: the runtime exited "
                                                     f"(code {worker.process.returncode}); see {worker.log}")
        if select.select([worker.channel], [], [], 0.05)[0]:
            worker.buffer += os.read(worker.channel, 1 << 20)
    line, _, worker.buffer = worker.buffer.partition(b"\n")
    with worker.log.open("a") as log:
        log.write(report_line(time.monotonic() - started, function.memory_mb, peak, request["id"]))
    return json.loads(line)
