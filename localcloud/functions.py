"""Lambda functions as CloudFormation created them, run as Lambda runs them.

`deployed(arn)` reads a function from moto's Lambda backend — handler, runtime, environment,
memory, timeout, and the code of the function and its layers (the zips deploy uploaded from the
cloud assembly) — unpacking each zip once per content hash.

Runtimes: `python3.*` functions run in warm workers (workers.py) on this interpreter without its
site-packages: the path (`python_runtime_path`) holds the function's code, its layers' `python/`
folders and the AWS SDK the Lambda runtime provides (this interpreter's boto3 and its
dependencies, alone), so an import that would fail on Lambda fails here. `nodejs*` functions run
once per invocation (`invoke_node`) on the Node pinned in package.json (node_runtime.js), the AWS
SDK for JavaScript coming from the repository's node_modules as Lambda's runtime ships it. Both
are held to the function's memory and timeout and raise FunctionError with the error Lambda
reports (`Runtime.OutOfMemory`, `Sandbox.Timedout`, or the handler's exception).
"""

import importlib.util
import json
import shutil
import threading
import zipfile
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from localcloud.limits import Exceeded, ServiceError, error_of, run_limited

HERE = Path(__file__).resolve().parent
NODE = HERE.parent / "node_modules" / "node" / "bin" / "node"
NODE_SDK = HERE.parent / "node_modules"
RESULT, RESPONSE = "@@RESULT@@", "@@RESPONSE@@"  # node_runtime.js's markers
PYTHON_RUNTIME_SDK = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")
_UNPACKING = threading.Lock()


class FunctionError(ServiceError):
    """A Lambda invocation's error (Runtime.OutOfMemory, Sandbox.Timedout, the handler's exception)."""


@dataclass(frozen=True)
class DeployedFunction:
    name: str
    arn: str
    role: str  # the execution role's ARN
    handler: str
    runtime: str
    environment: dict[str, str]
    memory_mb: int
    timeout_s: int
    code: Path
    layers: tuple[Path, ...]


@dataclass(frozen=True)
class Invocation:
    result: object  # what the handler returned
    response: dict | None  # what it sent to a custom resource's response URL, if anything


def deployed(arn: str, unpack_to: Path) -> DeployedFunction:
    """The function `arn` names (qualifier-free ARN, as CloudFormation's Fn::GetAtt gives it)."""
    from moto.awslambda.exceptions import UnknownFunctionException
    from moto.awslambda.models import lambda_backends

    _, _, _, region, account, *_ = arn.split(":")
    backend = lambda_backends[account][region]
    try:
        function = backend.get_function(arn)
    except UnknownFunctionException:
        raise FunctionError("Lambda.ResourceNotFoundException", f"Function not found: {arn}") from None
    layers = [backend.layers_versions_by_arn(layer["Arn"]) for layer in function.layers]
    return DeployedFunction(
        name=function.function_name, arn=function.function_arn, role=function.role, handler=function.handler,
        runtime=function.run_time, environment=dict(function.environment_vars),
        memory_mb=int(function.memory_size), timeout_s=int(function.timeout),
        code=_unpacked(function.code_bytes, function.code_sha_256, unpack_to),
        layers=tuple(_unpacked(layer.code_bytes, layer.code_sha_256, unpack_to) for layer in layers))


def invoke_node(function: DeployedFunction, event: dict, *, environment: dict[str, str], log_dir: Path,
                timeout_s: float | None = None) -> Invocation:
    """Run a Node.js handler once on `event` in a fresh process (node_runtime.js). The app's Node.js
    functions are CloudFormation's custom-resource providers, invoked a few times per deployment;
    Python functions run in warm workers (workers.py). `environment` is the base (endpoint, credentials)."""
    if not function.runtime.startswith("nodejs"):
        raise FunctionError("Lambda.InvalidRuntimeException",
                            f"{function.name}: runtime {function.runtime} is not run locally (python3.*, nodejs*)")
    path = [*(layer / "nodejs" / "node_modules" for layer in function.layers), NODE_SDK]
    young = function.memory_mb // 10  # the heap sizes Lambda's Node.js bootstrap gives V8 for the memory
    argv = [str(NODE), "--expose-gc", f"--max-semi-space-size={young // 2}",
            f"--max-old-space-size={function.memory_mb - young}", str(HERE / "node_runtime.js"), str(function.code),
            function.handler, function.arn]
    process_environment = {**environment, **function.environment, **lambda_environment(function),
                           "NODE_PATH": ":".join(map(str, path))}
    try:
        finished = run_limited(argv, process_environment, log=log_dir / f"{function.name}.log",
                               memory_mb=function.memory_mb, stdin=json.dumps(event), cwd=function.code,
                               timeout_s=min(function.timeout_s, timeout_s or float("inf")))
    except Exceeded as exceeded:
        raise lambda_error(function, exceeded) from None
    if finished.returncode != 0:
        raise FunctionError(*error_of(finished.log or finished.stdout))
    marked = {marker: line[len(marker):] for line in finished.stdout.splitlines()
              for marker in (RESULT, RESPONSE) if line.startswith(marker)}
    return Invocation(result=json.loads(marked.get(RESULT, "null")),
                      response=json.loads(marked[RESPONSE]) if RESPONSE in marked else None)


def lambda_environment(function: DeployedFunction) -> dict[str, str]:
    """The variables Lambda's runtime sets for a function."""
    return {"AWS_LAMBDA_FUNCTION_NAME": function.name, "LAMBDA_TASK_ROOT": str(function.code),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(function.timeout_s)}


def lambda_error(function: DeployedFunction, exceeded: Exceeded) -> FunctionError:
    """What Lambda reports for a function that outgrew its memory or outlived its timeout."""
    error = "Runtime.OutOfMemory" if exceeded.limit == "memory" else "Sandbox.Timedout"
    return FunctionError(error, f"{function.name}: {exceeded}")


def python_runtime_path(function: DeployedFunction) -> str:
    """PYTHONPATH as Lambda's Python runtime has it: the code, each layer's python/, the runtime's SDK."""
    path = [function.code, *(layer / "python" for layer in function.layers), _python_sdk(function.code.parent)]
    return ":".join(map(str, path))


def _python_sdk(root: Path) -> Path:
    """A folder holding only the SDK packages the Python Lambda runtime ships (links to this interpreter's)."""
    target = root / "python-runtime-sdk"
    with _UNPACKING:
        if not target.is_dir():
            partial = target.with_name(target.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir(parents=True)
            for name in PYTHON_RUNTIME_SDK:
                origin = Path(importlib.util.find_spec(name).origin)
                source = origin.parent if origin.name == "__init__.py" else origin
                (partial / source.name).symlink_to(source)
            partial.rename(target)
    return target


def _unpacked(zip_bytes: bytes, sha256: str, root: Path) -> Path:
    """The zip's contents in a folder named by its hash (unpacked once; concurrent callers wait)."""
    target = root.resolve() / sha256.replace("/", "_").replace("+", "-").rstrip("=")
    with _UNPACKING:
        if not target.is_dir():
            partial = target.with_name(target.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            with zipfile.ZipFile(BytesIO(zip_bytes)) as archive:
                archive.extractall(partial)
            partial.rename(target)
    return target
