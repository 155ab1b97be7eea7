"""Bedrock's Converse API (bedrock-runtime) on the local cloud's endpoint, answered by a stand-in model.

There is no Bedrock model locally. Whoever starts the local cloud may give it a stand-in: a
function that takes the Converse request body (with `modelId`) and returns the Converse response
body, named as MODULE:FUNCTION (`--converse` on the CLI). Requests reach it as they reach Bedrock —
`POST /model/{modelId}/converse`, SigV4-signed for the `bedrock` service — so the caller's code and
its boto3 client are the ones that run on AWS. Without a stand-in, Converse answers an error
saying so. Every other request goes to moto unchanged.
"""

import importlib
import json
import re
import uuid
from collections.abc import Callable
from urllib.parse import unquote

from moto.moto_server.werkzeug_app import DomainDispatcherApplication

CONVERSE_PATH = re.compile(r"^/model/(?P<model>[^/]+)/converse$")
SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/bedrock/aws4_request")
Converse = Callable[[dict], dict]
_model: dict[str, Converse | None] = {"converse": None}  # the stand-in this process's cloud was given


def load(name: str) -> Converse:
    """MODULE:FUNCTION as a callable (ValueError naming what is wrong)."""
    module, _, function = name.partition(":")
    if not (module and function):
        raise ValueError(f"--converse expects MODULE:FUNCTION, got {name!r}")
    try:
        found = getattr(importlib.import_module(module), function)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"--converse {name}: {error}") from None
    if not callable(found):
        raise ValueError(f"--converse {name}: not a function")
    return found


def install(converse: Converse | None) -> None:
    """Answer Converse with `converse` (None: answer that no stand-in model was given)."""
    _model["converse"] = converse
    if getattr(DomainDispatcherApplication.__call__, "bedrock_runtime", False):
        return
    moto_call = DomainDispatcherApplication.__call__

    def call(self, environ, start_response):
        path = CONVERSE_PATH.match(unquote(environ.get("PATH_INFO", "")))
        signed = SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        if environ.get("REQUEST_METHOD") != "POST" or not path or not signed:
            return moto_call(self, environ, start_response)
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        status, answer = _converse(path["model"], body)
        payload = json.dumps(answer).encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(payload))),
                   ("x-amzn-RequestId", str(uuid.uuid4()))]
        if status != "200 OK":
            headers.append(("x-amzn-ErrorType", answer["__type"]))
        start_response(status, headers)
        return [payload]

    call.bedrock_runtime = True
    DomainDispatcherApplication.__call__ = call


def _converse(model_id: str, body: bytes) -> tuple[str, dict]:
    converse = _model["converse"]
    if converse is None:
        return "400 Bad Request", {"__type": "ValidationException", "message": (
            "the local cloud has no stand-in model for Converse: start it with --converse MODULE:FUNCTION")}
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        return "400 Bad Request", {"__type": "ValidationException", "message": "the request body is not JSON"}
    return "200 OK", converse({**request, "modelId": model_id})
