"""IAM enforced on every call to the local cloud, as AWS decides it (LocalStack's ENFORCE_IAM).

Principals. Each Lambda execution environment and ECS task runs with temporary credentials of its
role, issued only when the role's trust policy admits the service (`lambda.amazonaws.com`,
`ecs-tasks.amazonaws.com`), as STS AssumeRole does for them; the state machine's integrations run
as the state machine's role; Athena reads and writes as the principal that started the query. Any
other caller (cdklocal, the aws CLI, the local cloud's own CLI) is the account's operator, whom
resource policies still bind.

Requests. A request signed with issued credentials is mapped to its IAM action, resource ARNs and
context keys (`Requests.describe`) and decided by `iam.evaluate` against the role's identity
policies and the resource's policy (bucket, KMS key, topic, secret). SSE-KMS reads and writes
also need the bucket key's `kms:Decrypt` / `kms:GenerateDataKey` with `kms:ViaService`. A
denial is answered as the service answers it (S3: 403 `AccessDenied`; JSON services:
`AccessDeniedException` naming principal, action and resource). Every decision is one line of
`logs/iam.jsonl`.

Not modelled: VPC endpoint policies, permissions boundaries, session policies, SCPs, KMS on
DynamoDB tables and log groups, the encryption context beyond `kms:ViaService`, requests from
other accounts.
"""

import io
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from moto.moto_server.werkzeug_app import DomainDispatcherApplication

from localcloud import iam, owner
from localcloud.iam_requests import Call, Check, Requests
from localcloud.policies import LOOPBACK_REQUEST



class AccessDenied(Exception):
    """A request IAM refused: the decision, for the error the service answers with."""

    def __init__(self, principal: str, action: str, resource: str, decision: iam.Decision) -> None:
        super().__init__(f"User: {principal} is not authorized to perform: {action} on resource: {resource} "
                         f"because {decision.reason}")
        self.principal, self.action, self.resource, self.decision = principal, action, resource, decision


@dataclass(frozen=True)
class Session:
    """Temporary credentials issued to a role for a service."""

    role_arn: str
    service: str
    access_key: str
    secret_key: str
    token: str

    @property
    def principal(self) -> str:
        """The assumed-role ARN AWS names in decisions and errors."""
        account = self.role_arn.split(":")[4]
        return f"arn:aws:sts::{account}:assumed-role/{self.role_arn.rsplit('/', 1)[-1]}/{self.service.split('.')[0]}"

    def environment(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
                **({"AWS_SESSION_TOKEN": self.token} if self.token else {})}


class Gate:
    """The account's IAM: issued sessions, decisions and their log."""

    def __init__(self, account: str, region: str, log: Path, enforcing: bool = True,
                 operator: owner.Operator | None = None) -> None:
        """`enforcing=False` (for measuring what enforcement costs): every caller is the operator.
        `operator`: the session's operator credentials; with them, only the owner is answered
        (owner.py): every request signed with them or an issued session's, on the owner's
        connection. Without (tests of the gate alone), any other credentials are the operator."""
        self.account, self.region, self.log_path, self.enforcing = account, region, log, enforcing
        self.operator = operator
        self._sessions: dict[str, Session] = {}  # access key -> session
        self._by_role: dict[tuple[str, str], Session] = {}
        self._lock = threading.Lock()
        self._log = None
        self.current = threading.local()  # the principal of the request a server thread is answering
        self.decisions = 0
        self.denials = 0
        self.seconds = 0.0  # CPU time spent mapping requests and deciding them: what enforcement costs
        self._flushed = 0.0

    # --- principals ----------------------------------------------------------------------------

    def session(self, role_arn: str, service: str, source_arn: str | None = None) -> Session:
        """Credentials of `role_arn` for `service` (AssumeRole: refused unless the trust policy admits
        it); `source_arn`: the resource the service acts for (a state machine), which it names in
        `aws:SourceArn` and `aws:SourceAccount` as AWS's services do against confused deputies."""
        if not self.enforcing:
            keys = (self.operator.access_key, self.operator.secret_key) if self.operator else ("local", "local")
            return Session(role_arn, service, *keys, "")
        with self._lock:
            found = self._by_role.get((role_arn, service))
        if found:
            return found
        role = _role(role_arn)
        if role is None:
            decision = iam.Decision(False, "the role does not exist")
            self.record(service, "sts:AssumeRole", role_arn, {}, decision)
            raise AccessDenied(service, "sts:AssumeRole", role_arn, decision)
        trust = iam.parse(role.assume_role_policy_document)
        context = {"aws:SourceArn": source_arn, "aws:SourceAccount": self.account} if source_arn else {}
        decision = iam.evaluate(iam.Request(service, "sts:AssumeRole", role_arn, context), [],
                                iam.Policy(f"trust policy of {role_arn}", trust))
        self.record(service, "sts:AssumeRole", role_arn, context, decision)
        if not decision.allowed:
            raise AccessDenied(service, "sts:AssumeRole", role_arn, decision)
        issued = Session(role_arn, service, "ASIA" + secrets.token_hex(8).upper(), secrets.token_hex(20),
                         secrets.token_hex(32))
        with self._lock:
            self._sessions[issued.access_key] = issued
            self._by_role[(role_arn, service)] = issued
        return issued

    def session_of(self, access_key: str | None) -> Session | None:
        return self._sessions.get(access_key or "")

    def secret_of(self, access_key: str) -> str | None:
        """The secret of credentials this cloud knows: the operator's, an issued session's, or
        what its STS or IAM API gave out (cdklocal assumes the bootstrap roles, say)."""
        if self.operator is not None and access_key == self.operator.access_key:
            return self.operator.secret_key
        session = self._sessions.get(access_key)
        return session.secret_key if session is not None else _issued_by_moto(self.account, access_key)

    def current_session(self) -> Session | None:
        """The session whose request this server thread is answering (None: the operator's)."""
        return getattr(self.current, "session", None)

    # --- decisions -----------------------------------------------------------------------------

    def authorize(self, role_arn: str | None, principal: str, action: str, resource: str,
                  context: dict | None = None, resource_policy: iam.Policy | None = None,
                  key_policy: bool = False) -> iam.Decision:
        """Decide one request of a role (None: the operator, bound by resource policies only);
        raises AccessDenied when refused."""
        context = {**self.base_context(principal), **(context or {})}
        request = iam.Request(principal if role_arn is None or principal.endswith(".amazonaws.com") else role_arn,
                              action, resource, context)
        if role_arn is None and not request.is_service:
            decision = _operator(request, resource_policy)
        else:
            identity = [] if request.is_service else _identity_policies(role_arn)
            try:
                decision = iam.evaluate(request, identity, resource_policy, key_policy=key_policy)
            except iam.UnsupportedCondition as unsupported:
                decision = iam.Decision(False, f"implicit deny: {unsupported}")
        self.record(role_arn or principal, action, resource, context, decision)
        if not decision.allowed:
            raise AccessDenied(principal, action, resource, decision)
        return decision

    def base_context(self, principal: str) -> dict:
        """Context every request carries here (loopback counts as TLS, see policies.py)."""
        context = {**LOOPBACK_REQUEST, "aws:ResourceAccount": self.account, "aws:RequestedRegion": self.region}
        if not principal.endswith(".amazonaws.com"):
            context.update({"aws:PrincipalAccount": self.account, "aws:PrincipalArn": principal})
        return context

    def record(self, who: str, action: str, resource: str, context: dict, decision: iam.Decision) -> None:
        line = json.dumps({"time": round(time.time(), 3), "principal": who, "action": action, "resource": resource,
                           "context": {k: v for k, v in context.items() if not k.startswith("aws:Principal")},
                           "decision": "allow" if decision.allowed else "deny", "reason": decision.reason,
                           "policy": decision.policy, "statement": None}, default=str)
        # The deciding statement, serialized once per statement (policies are parsed once per text).
        line = line[:-len("null}")] + _statement_json(decision.statement) + "}\n"
        with self._lock:
            self.decisions += 1
            self.denials += not decision.allowed
            if self._log is None:
                self.log_path.parent.mkdir(parents=True, exist_ok=True)
                self._log = self.log_path.open("a")
            self._log.write(line)
            if time.monotonic() - self._flushed > 1:  # readable while serving, without a write per line
                self._log.flush()
                self._flushed = time.monotonic()

    def check(self, session: "Session | None", checks: list[Check]) -> None:
        """Every check of one request, as `session` (None: the operator, not checked here)."""
        if session is None or not self.enforcing:
            return
        started = time.thread_time()
        try:
            for check in checks:
                self.authorize(session.role_arn, session.principal, check.action, check.resource, check.context,
                               check.resource_policy, check.key_policy)
        finally:
            self.spent(started)

    def spent(self, started: float) -> None:
        """Add the CPU time this thread spent since `started` (time.thread_time(): not the time it
        waited for other threads, which wall time would count)."""
        with self._lock:
            self.seconds += time.thread_time() - started

    def flush(self) -> None:
        with self._lock:
            if self._log is not None:
                self._log.flush()

    def close(self) -> None:
        """Flush the log and keep each role's policies beside it (for `iam-report`)."""
        with self._lock:
            if self._log is not None:
                self._log.close()
                self._log = None
            roles = sorted({role for role, _ in self._by_role})
        if roles:
            snapshot = {role: [{"name": p.name, "document": p.document} for p in _identity_policies(role)]
                        for role in roles}
            (self.log_path.parent / "iam-policies.json").write_text(json.dumps(snapshot, indent=1))


_STATEMENTS: dict[int, tuple[dict, str]] = {}


def _statement_json(statement: dict | None) -> str:
    if statement is None:
        return "null"
    cached = _STATEMENTS.get(id(statement))
    if cached is None or cached[0] is not statement:
        cached = _STATEMENTS[id(statement)] = (statement, json.dumps(statement, default=str))
    return cached[1]


def _issued_by_moto(account: str, access_key: str) -> str | None:
    """The secret of an unexpired STS session or an active IAM user key of the account."""
    from moto.core.utils import utcnow
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    for known in {account, *sts_backends.keys()}:  # an STS session lives in its role's account
        assumed = sts_backends[known]["aws"].get_assumed_role_from_access_key(access_key)
        if assumed is not None:
            return assumed.secret_access_key if assumed.expiration > utcnow() else None
    return next((key.secret_access_key for user in iam_backends[account]["global"].users.values()
                 for key in user.access_keys if key.access_key_id == access_key and key.status == "Active"), None)


def _operator(request: iam.Request, resource_policy: iam.Policy | None) -> iam.Decision:
    """The account's operator (administrator credentials): only a resource policy's deny binds it."""
    if resource_policy is not None:
        for statement in iam.statements(resource_policy.document):
            if statement.get("Effect") == iam.DENY and iam.applies(statement, request, True):
                return iam.Decision(False, "explicit deny", resource_policy.name, statement)
    return iam.Decision(True, "the account's operator")


def _role(role_arn: str):
    """The role moto holds (None: no such role)."""
    from moto.iam.exceptions import NotFoundException
    from moto.iam.models import iam_backends

    try:
        return iam_backends[role_arn.split(":")[4]]["global"].get_role_by_arn(role_arn)
    except (NotFoundException, IndexError):
        return None


def _identity_policies(role_arn: str) -> list[iam.Policy]:
    """The role's inline and attached managed policies, as moto holds them now."""
    role = _role(role_arn)
    name = role_arn.rsplit("/", 1)[-1]
    inline = [iam.Policy(f"{name}/{policy_name}", _parsed(document)) for policy_name, document in role.policies.items()]
    managed = [iam.Policy(f"{name}/{arn}", _parsed(next(v.document for v in policy.versions if v.is_default)))
               for arn, policy in role.managed_policies.items()]
    return inline + managed


_PARSED: dict[str, dict] = {}


def _parsed(document) -> dict:
    text = document if isinstance(document, str) else json.dumps(document)
    if text not in _PARSED:
        _PARSED[text] = iam.parse(document)
    return _PARSED[text]



# --- the server ---------------------------------------------------------------------------------------

_gate: Gate | None = None  # the installing cloud's (moto's server application is process-wide)
_requests: Requests | None = None


def install(gate: Gate, requests: Requests) -> None:
    """Decide every request signed with issued credentials before moto answers it (outermost)."""
    global _gate, _requests
    _gate, _requests = gate, requests
    if getattr(DomainDispatcherApplication.__call__, "iam_gate", False):
        return
    moto_call = DomainDispatcherApplication.__call__

    def call(self, environ, start_response):
        if _gate is None:  # the cloud that installed the gate has stopped
            return moto_call(self, environ, start_response)
        credential = Call.from_environ(environ, b"").credential()
        service = credential[1] if credential else ""
        body = b"" if service == "s3" else environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        if service != "s3":
            environ["wsgi.input"] = io.BytesIO(body)
        if _gate.operator is not None:
            try:
                _owners_request(environ, None if service == "s3" else body)
            except owner.Refused as refused:
                return _refused(Call.from_environ(environ, body), service, refused, start_response, code=refused.code)
            start_response = _without_cors(start_response)
        session = _gate.session_of(credential[0]) if credential else None
        if session is None:
            return moto_call(self, environ, start_response)
        request = Call.from_environ(environ, body)
        started = time.thread_time()
        checks = _requests.describe(request, credential[1])
        _gate.spent(started)
        try:
            _gate.check(session, checks)
        except AccessDenied as denied:
            return _refused(request, credential[1], denied, start_response)
        _gate.current.session = session
        try:
            return moto_call(self, environ, start_response)
        finally:
            _gate.current.session = None

    call.iam_gate = True
    DomainDispatcherApplication.__call__ = call


def uninstall(gate: Gate) -> None:
    """Stop deciding with `gate` (its cloud stopped); another gate installed since stays."""
    global _gate, _requests
    if _gate is gate:
        _gate, _requests = None, None


def _owners_request(environ: dict, body: bytes | None) -> None:
    """owner.Refused unless the cloud's owner sent it: their connection, this host, a signature
    made with credentials the cloud knows (and, for an issued session, its token)."""
    owner.check_connection(environ.get("werkzeug.socket"))
    owner.check_host(environ.get("HTTP_HOST", ""), int(environ.get("SERVER_PORT") or 0))
    access_key = owner.check_signature(environ, body, _gate.secret_of)
    session = _gate.session_of(access_key)
    given = environ.get("HTTP_X_AMZ_SECURITY_TOKEN") or parse_qs(environ.get("QUERY_STRING", "")).get(
        "X-Amz-Security-Token", [""])[0]
    if session is not None and session.token and given != session.token:
        raise owner.Refused("InvalidClientTokenId", "The security token included in the request is invalid.")


def _without_cors(start_response):
    """No answer tells a browser that another origin may read it."""
    def respond(status, headers, *args):
        return start_response(status, [(k, v) for k, v in headers if not k.lower().startswith("access-control-")],
                              *args)
    return respond


def _refused(request: Call, service: str, denied: Exception, start_response, code: str = "AccessDenied"):
    """The denial as the service answers it."""
    message, request_id = str(denied), str(uuid.uuid4())
    if service == "s3":
        status, kind = "403 Forbidden", "application/xml"
        body = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{escape(message)}'
                f"</Message><RequestId>{request_id}</RequestId></Error>")
    elif request.headers.get("x-amz-target"):
        status, kind = "400 Bad Request", "application/x-amz-json-1.1"
        json_code = {"AccessDenied": "AccessDeniedException", "InvalidAccessKeyId": "UnrecognizedClientException",
                     "RequestTimeTooSkewed": "InvalidSignatureException"}.get(code, code)
        body = json.dumps({"__type": json_code, "message": message})
    elif request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        code = "AuthorizationError" if service == "sns" and code == "AccessDenied" else (
            "InvalidClientTokenId" if code == "InvalidAccessKeyId" else code)
        status, kind = "403 Forbidden", "text/xml"
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{escape(message)}</Message>"
                f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>")
    else:
        status, kind = "403 Forbidden", "application/json"
        body = json.dumps({"message": message, "Message": message})
    encoded = body.encode()
    start_response(status, [("Content-Type", kind), ("Content-Length", str(len(encoded))),
                            ("x-amzn-RequestId", request_id), ("x-amzn-ErrorType", "AccessDeniedException")])
    return [encoded]
