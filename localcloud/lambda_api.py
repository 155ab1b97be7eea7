"""Lambda's Invoke on the local cloud's endpoint: the deployed function runs (LocalCloud.invoke —
its warm worker, memory and timeout), where moto would need Docker or answer a canned response.

RequestResponse returns the handler's result, or its error with `X-Amz-Function-Error:
Unhandled` as Lambda does; Event runs it in the background and answers 202; DryRun only checks
the function exists. A function that does not exist is moto's own ResourceNotFoundException.
"""

import json
import threading

from moto.awslambda.models import LambdaBackend

from localcloud.functions import FunctionError

_cloud = None  # the LocalCloud that installed the API (moto's backends are process-wide)


def install(cloud) -> None:
    global _cloud
    _cloud = cloud
    if not getattr(LambdaBackend.invoke, "local", False):
        LambdaBackend.invoke = _invoke


def _invoke(self, function_name, qualifier, body, headers, response_headers):
    arn = self.get_function(function_name, qualifier).function_arn  # raises as Lambda does when missing
    event = json.loads(body or "{}")
    kind = headers.get("X-Amz-Invocation-Type", "RequestResponse")
    if kind == "DryRun":
        return b""
    if kind == "Event":
        threading.Thread(target=_quietly, args=(arn, event), daemon=True).start()
        return b""
    try:
        return json.dumps(_cloud.invoke(arn, event).result).encode()
    except FunctionError as failed:
        response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps(_error_payload(failed)).encode()


_invoke.local = True


def _quietly(arn: str, event: dict) -> None:
    try:
        _cloud.invoke(arn, event)
    except FunctionError:
        pass  # an asynchronous invocation's error goes to the function's log, as on Lambda


def _error_payload(failed: FunctionError) -> dict:
    """The handler's own error document (type, message, stack), or one for the runtime's error."""
    try:
        reported = json.loads(failed.cause)
        if isinstance(reported, dict) and "errorType" in reported:
            return reported
    except ValueError:
        pass
    return {"errorType": failed.error, "errorMessage": failed.cause}
