"""API Gateway REST APIs, as CloudFormation created them, served on a loopback port.

`{endpoint}/{api_id}/{stage}/{path}` stands for AWS's
`https://{api_id}.execute-api.{region}.amazonaws.com/{stage}/{path}`. Each request is routed
through what is deployed at that moment (moto's API Gateway backend): the stage, the resource
whose path matches (literal segments before `{param}` before `{proxy+}`) and its method (or ANY).
Then, as API Gateway does:

- an unknown stage, path or method: 403 `Missing Authentication Token`;
- an `AWS_IAM` method without a Signature Version 4 `Authorization` for execute-api in this
  region: 403 `Missing Authentication Token`; signed with credentials the cloud does not know, or
  a signature that does not match (recomputed with the secret, as AWS does): 403;
- only the cloud's owner is answered (owner.py): another user's connection, or a Host that is not
  the loopback address served: 403;
- an `AWS_PROXY` Lambda integration gets the REST API's proxy event (payload 1.0), but only if the
  function's resource policy lets apigateway.amazonaws.com invoke it for this route's
  execute-api ARN; otherwise 500 (`Invalid permissions on Lambda function` in the API's log);
- a Content-Length that is not a number: 400; a body over API Gateway's 10 MB payload limit: 413
  (the body is not read); a body that breaks the method's model (the model for its content type,
  or the `$default` model for every type; malformed or too deeply nested JSON breaks any): 400;
- a handler error or a malformed answer: 502; longer than the 29 s integration timeout: 504;
- any failure of the local cloud itself: 500, and the log says why (a connection is never dropped);
- any other integration or authorizer type: 500, and the log says it is not served locally.

The API's log (`logs/apigateway-<api_id>.log`) has one line per request and the reason for every
error answer. Nothing here knows the app.
"""

import base64
import fnmatch
import json
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jsonschema
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from localcloud import owner
from localcloud.limits import ServiceError

INTEGRATION_TIMEOUT_S = 29  # API Gateway's default (and, for REST APIs, its usual maximum)
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway's request payload limit
LAMBDA_URI = re.compile(r"arn:aws:apigateway:[^:]+:lambda:path/2015-03-31/functions/(?P<arn>.+)/invocations$")
Invoke = Callable[[str, dict, float], object]  # (function ARN, event, timeout) -> what the handler returned


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # after /{api_id}/{stage}
    query: str
    headers: dict[str, str]
    body: bytes
    source_ip: str
    target: str = ""  # the request line's target, as signed: /{api_id}/{stage}/{path}?{query}


class Refused(Exception):
    """A request API Gateway answers itself; `reason` goes to the API's log."""

    def __init__(self, status: int, message: str, reason: str = "") -> None:
        super().__init__(reason or message)
        self.answer = Answer(status, {"Content-Type": "application/json", "x-amzn-ErrorType": _error_type(status)},
                             json.dumps({"message": message}).encode())


def _error_type(status: int) -> str:
    return {400: "BadRequestException", 403: "MissingAuthenticationTokenException", 413: "RequestTooLongException",
            502: "InternalServerErrorException", 504: "IntegrationTimeoutException"}.get(
        status, "InternalServerErrorException")


def matching_resource(resource_paths: list[str], request_path: str) -> tuple[str, dict[str, str]] | None:
    """The resource path that serves `request_path`, with its path parameters: literal segments win
    over `{param}`, which wins over a greedy `{proxy+}` (API Gateway's precedence)."""
    best, best_rank = None, None
    requested = [part for part in request_path.strip("/").split("/") if part]
    for resource in resource_paths:
        parameters = _match(resource, requested)
        if parameters is None:
            continue
        segments = [part for part in resource.strip("/").split("/") if part]
        rank = [0 if not s.startswith("{") else 1 if not s.endswith("+}") else 2 for s in segments]
        if best_rank is None or rank < best_rank:
            best, best_rank = (resource, parameters), rank
    return best


def _match(resource: str, requested: list[str]) -> dict[str, str] | None:
    segments = [part for part in resource.strip("/").split("/") if part]
    parameters = {}
    for index, segment in enumerate(segments):
        if segment.startswith("{") and segment.endswith("+}"):
            rest = requested[index:]
            if not rest:
                return None
            parameters[segment[1:-2]] = "/".join(rest)
            return parameters
        if index >= len(requested):
            return None
        if segment.startswith("{") and segment.endswith("}"):
            parameters[segment[1:-1]] = requested[index]
        elif segment != requested[index]:
            return None
    return parameters if len(segments) == len(requested) else None


def allowed_by_policy(statements: list[dict], source_arn: str) -> bool:
    """Whether a function's resource policy statements let API Gateway invoke it for `source_arn`."""
    for statement in statements:
        principal = statement.get("Principal", {})
        service = principal.get("Service") if isinstance(principal, dict) else principal
        if statement.get("Effect") != "Allow" or service != "apigateway.amazonaws.com":
            continue
        if statement.get("Action") not in ("lambda:InvokeFunction", "lambda:*"):
            continue
        condition = statement.get("Condition", {})
        pattern = (condition.get("ArnLike") or condition.get("StringEquals") or {}).get("AWS:SourceArn")
        if pattern is None or fnmatch.fnmatchcase(source_arn, pattern):
            return True
    return False


def proxy_event(request: Request, *, api_id: str, stage: str, account: str, resource: str,
                parameters: dict[str, str], stage_variables: dict) -> dict:
    """The REST API's Lambda proxy event (payload format 1.0)."""
    query = parse_qs(request.query, keep_blank_values=True)
    try:
        body, encoded = (request.body.decode() if request.body else None), False
    except UnicodeDecodeError:
        body, encoded = base64.b64encode(request.body).decode(), True
    identity = {"sourceIp": request.source_ip, "userAgent": request.headers.get("User-Agent"),
                "accessKey": _access_key(request.headers.get("Authorization", ""))}
    return {
        "resource": resource, "path": request.path, "httpMethod": request.method,
        "headers": request.headers or None,
        "multiValueHeaders": {k: [v] for k, v in request.headers.items()} or None,
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": parameters or None, "stageVariables": stage_variables or None,
        "requestContext": {"accountId": account, "apiId": api_id, "stage": stage, "resourcePath": resource,
                           "httpMethod": request.method, "path": f"/{stage}{request.path}",
                           "requestId": str(uuid.uuid4()), "requestTimeEpoch": int(time.time() * 1000),
                           "protocol": "HTTP/1.1", "identity": identity},
        "body": body, "isBase64Encoded": encoded,
    }


def _access_key(authorization: str) -> str | None:
    found = re.search(r"Credential=([^/]+)/", authorization)
    return found[1] if found else None


def proxy_answer(result: object) -> Answer:
    """A Lambda proxy integration's response, as API Gateway maps it (502 if malformed)."""
    if not isinstance(result, dict) or not isinstance(result.get("statusCode", 200), int):
        raise Refused(502, "Internal server error", f"Malformed Lambda proxy response: {str(result)[:300]}")
    headers = {k: str(v) for k, v in (result.get("headers") or {}).items()}
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers[name] = ",".join(map(str, values))
    body = result.get("body") or ""
    if not isinstance(body, str):
        raise Refused(502, "Internal server error", "Malformed Lambda proxy response: body is not a string")
    data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    headers.setdefault("Content-Type", "application/json")
    return Answer(int(result.get("statusCode", 200)), headers, data)


class RestApis:
    """Serves the REST APIs deployed in moto's `account`/`region` on 127.0.0.1:`port`."""

    def __init__(self, *, account: str, region: str, invoke: Invoke, log_dir: Path,
                 secret_of: Callable[[str], str | None] | None = None) -> None:
        """`secret_of`: the secret of an access key the cloud knows (None: the signature's form is
        checked, not its value, and anyone may connect — for tests of the routing alone)."""
        self.secret_of = secret_of
        self.account, self.region, self.invoke, self.log_dir = account, region, invoke, log_dir
        self.server: ThreadingHTTPServer | None = None
        self.endpoint: str | None = None

    def start(self, port: int = 0) -> str:
        self.server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        threading.Thread(target=self.server.serve_forever, daemon=True, name="rest-apis").start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        return self.endpoint

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def urls(self) -> dict[str, str]:
        """Each deployed API's stages: `name/stage` -> the URL that serves it."""
        return {f"{api.name}/{stage}": f"{self.endpoint}/{api.id}/{stage}"
                for api in self._backend().apis.values() for stage in api.stages}

    def _backend(self):
        from moto.apigateway.models import apigateway_backends
        return apigateway_backends[self.account][self.region]

    def answer(self, api_id: str, stage: str, request: Request) -> Answer:
        try:
            answer = self._route(api_id, stage, request)
            self._log(api_id, f"{request.method} /{stage}{request.path} -> {answer.status}")
            return answer
        except Refused as refused:
            self.refused(api_id, f"{request.method} /{stage}{request.path}", refused)
            return refused.answer
        except Exception as error:  # noqa: BLE001 - a fault of the local cloud is a 500, never a dropped connection
            failed = Refused(500, "Internal server error", f"the local cloud failed: {type(error).__name__}: {error}")
            self.refused(api_id, f"{request.method} /{stage}{request.path}", failed)
            return failed.answer

    def refused(self, api_id: str, request_line: str, refused: Refused) -> None:
        self._log(api_id, f"{request_line} -> {refused.answer.status}: {refused}")

    def _route(self, api_id: str, stage: str, request: Request) -> Answer:
        missing = Refused(403, "Missing Authentication Token", "no such stage, resource or method")
        api = self._backend().apis.get(api_id)
        if api is None or stage not in api.stages:
            raise missing
        resources = {resource.get_path(): resource for resource in api.resources.values()}
        found = matching_resource(list(resources), request.path)
        if found is None:
            raise missing
        path, parameters = found
        methods = resources[path].resource_methods
        method = methods.get(request.method) or methods.get("ANY")
        if method is None:
            raise missing
        self._authorize(method, request)
        self._validate_body(api, method, request)
        integration = method.method_integration
        target = LAMBDA_URI.match(integration.uri or "") if integration else None
        if integration is None or integration.integration_type != "AWS_PROXY" or target is None:
            kind = integration.integration_type if integration else "no"
            raise Refused(500, "Internal server error", f"{kind} integration is not served by the local cloud "
                                                        "(AWS_PROXY to a Lambda function is)")
        source_arn = f"arn:aws:execute-api:{self.region}:{self.account}:{api_id}/{stage}/{request.method}{request.path}"
        self._check_permission(target["arn"], source_arn)
        event = proxy_event(request, api_id=api_id, stage=stage, account=self.account, resource=path,
                            parameters=parameters, stage_variables=api.stages[stage].variables)
        return proxy_answer(self._call(target["arn"], event))

    def _authorize(self, method, request: Request) -> None:
        kind = method.authorization_type or "NONE"
        if kind == "NONE":
            return
        if kind != "AWS_IAM":
            raise Refused(500, "Internal server error", f"{kind} authorization is not served by the local cloud")
        authorization = request.headers.get("Authorization", "")
        scope = re.search(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request", authorization)
        if not authorization.startswith("AWS4-HMAC-SHA256 ") or not scope or scope.groups() != (self.region,
                                                                                                 "execute-api"):
            raise Refused(403, "Missing Authentication Token", "AWS_IAM method without a SigV4 signature for "
                                                               f"execute-api in {self.region}")
        if self.secret_of is not None:
            try:
                owner.check_signature(_environ(request), request.body, self.secret_of)
            except owner.Refused as refused:
                message = ("The security token included in the request is invalid." if refused.code ==
                           "InvalidAccessKeyId" else str(refused))
                raise Refused(403, message, f"{refused.code}: {refused}") from None

    @staticmethod
    def _validate_body(api, method, request: Request) -> None:
        """A method whose request validator checks bodies refuses one that breaks the model for its
        content type (application/json when none is sent), as API Gateway does, before any call."""
        validator = api.request_validators.get(method.request_validator_id or "")
        if validator is None or not validator.validate_request_body:
            return
        content_type = request.headers.get("Content-Type", "application/json").split(";")[0].strip().lower()
        models = method.request_models or {}
        model_name = models.get(content_type) or models.get("$default")
        if model_name is None:
            return
        invalid = Refused(400, "Invalid request body", f"body does not match model {model_name}")
        try:
            jsonschema.validate(json.loads(request.body or b"null"), json.loads(api.models[model_name].schema))
        except (ValueError, RecursionError, jsonschema.ValidationError) as error:
            raise invalid from error

    def _check_permission(self, function_arn: str, source_arn: str) -> None:
        from moto.awslambda.exceptions import UnknownFunctionException
        from moto.awslambda.models import lambda_backends

        try:
            statements = lambda_backends[self.account][self.region].get_function(function_arn).policy.statements
        except UnknownFunctionException:
            raise Refused(500, "Internal server error", f"no function {function_arn}") from None
        if not allowed_by_policy(statements, source_arn):
            raise Refused(500, "Internal server error", "Execution failed due to configuration error: Invalid "
                                                        f"permissions on Lambda function (no grant for {source_arn})")

    def _call(self, function_arn: str, event: dict) -> object:
        try:
            return self.invoke(function_arn, event, INTEGRATION_TIMEOUT_S)
        except ServiceError as failed:
            if failed.error == "Sandbox.Timedout":
                raise Refused(504, "Endpoint request timed out", str(failed)) from None
            raise Refused(502, "Internal server error", f"Lambda function failed: {str(failed)[:500]}") from None

    def _log(self, api_id: str, line: str) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / f"apigateway-{api_id}.log").open("a") as log:
            log.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {line}\n")


def _environ(request: Request) -> dict:
    """The request as owner.check_signature reads it (WSGI's names)."""
    environ = {"REQUEST_METHOD": request.method, "RAW_URI": request.target, "QUERY_STRING": request.query}
    for name, value in request.headers.items():
        key = name.upper().replace("-", "_")
        environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"] = value
    return environ


def _handler(apis: RestApis) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            url = urlsplit(self.path)
            api_id, _, rest = url.path.lstrip("/").partition("/")
            stage, _, path = rest.partition("/")
            try:
                if apis.secret_of is not None:
                    self._check_owner()
                length = _content_length(self.headers.get("Content-Length"))
            except Refused as refused:
                apis.refused(api_id, f"{self.command} {url.path}", refused)
                self.close_connection = True  # the body's end is unknown (or not worth reading)
                return self._send(refused.answer)
            request = Request(method=self.command, path="/" + path, query=url.query, headers=dict(self.headers),
                              body=self.rfile.read(length) if length else b"", source_ip=self.client_address[0],
                              target=self.path)
            self._send(apis.answer(api_id, stage, request))

        def _check_owner(self) -> None:
            try:
                owner.check_connection(self.connection)
                owner.check_host(self.headers.get("Host", ""), self.server.server_address[1])
            except owner.Refused as refused:
                raise Refused(403, "Forbidden", f"not the owner: {refused}") from None

        def _send(self, answer: Answer) -> None:
            self.send_response(answer.status)
            for name, value in {**answer.headers, "Content-Length": str(len(answer.body))}.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(answer.body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

        def log_message(self, format, *args) -> None:  # the API's own log has every request
            pass

    return Handler


def _content_length(header: str | None) -> int:
    """The body's length as the header states it, or the answer API Gateway gives."""
    if header is None or header.strip() == "":
        return 0
    if not header.strip().isdigit():
        raise Refused(400, "Bad Request", f"Content-Length is not a number: {header[:40]!r}")
    length = int(header)
    if length > MAX_PAYLOAD_BYTES:
        raise Refused(413, f"HTTP content length exceeded {MAX_PAYLOAD_BYTES} bytes.",
                      f"body of {length:,} bytes over the {MAX_PAYLOAD_BYTES:,}-byte payload limit")
    return length


def call(url: str, method: str = "GET", body: dict | None = None, *, signed: Credentials | None = None,
         region: str = "us-east-1") -> tuple[int, dict]:
    """An HTTP call as a client makes it; `signed`: the credentials to sign it with (SigV4 for
    execute-api), as an IAM-authorized call is. Returns the status and the JSON body."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"}
    if signed is not None:
        request = AWSRequest(method=method, url=url, data=data, headers=headers)
        SigV4Auth(signed, "execute-api", region).add_auth(request)
        headers = dict(request.headers)
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, method=method, headers=headers)) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
