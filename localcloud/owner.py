"""The local cloud belongs to the user who started it: nobody else on the machine, and no web page,
can read or change it.

- Its state (`.localcloud/`) is private: the folder 0700, every file it writes 0600.
- Each session has its own operator credentials (`Operator.new`): a random key written only to
  the private `server.json` and printed by `up`. A request must be signed with them or with
  credentials the cloud issued to a role, and the signature is checked as AWS checks it (SigV4:
  recomputed with the secret; presigned URLs too, and their expiry): an unsigned request, an
  unknown key or a wrong signature is refused as AWS refuses it.
- On Linux, a connection is refused unless the connecting socket belongs to the same user (the
  kernel's socket table, by sock_diag or /proc/net/tcp): another user cannot even ask. Elsewhere
  the credentials alone decide.
- The Host header must name the loopback address the cloud listens on (a DNS-rebinding page
  names its own host), and no answer carries CORS headers, so a page's script reads nothing.
"""

import datetime
import hashlib
import os
import secrets
import socket
import struct
import weakref
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"


@dataclass(frozen=True)
class Operator:
    """The session's operator credentials (administrator of the local account)."""

    access_key: str
    secret_key: str

    @classmethod
    def new(cls) -> "Operator":
        return cls("LKIA" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30))

    @property
    def environment(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}

    @property
    def credentials(self) -> Credentials:
        return Credentials(self.access_key, self.secret_key)

    @classmethod
    def from_environment(cls, environment: dict[str, str]) -> "Operator":
        return cls(environment["AWS_ACCESS_KEY_ID"], environment["AWS_SECRET_ACCESS_KEY"])


class Refused(Exception):
    """A request the owner did not make: `code` as AWS names the refusal."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def private(state_dir: Path) -> None:
    """The state folder 0700 and, from now on in this process, new files 0600 and folders 0700."""
    os.umask(0o077)
    state_dir.mkdir(parents=True, exist_ok=True)
    state_dir.chmod(0o700)


# --- who connects ------------------------------------------------------------------------------

_owners: "weakref.WeakKeyDictionary[socket.socket, int | None]" = weakref.WeakKeyDictionary()


def check_connection(connection: socket.socket | None) -> None:
    """Refused unless the peer socket of `connection` belongs to this process's user (Linux; once
    per connection). Where /proc cannot say (not Linux), the credentials alone decide."""
    if connection is None:
        return
    if connection not in _owners:
        _owners[connection] = _peer_uid(connection)
    uid = _owners[connection]
    if uid is not None and uid != os.getuid():
        raise Refused("AccessDenied", f"the local cloud belongs to user {os.getuid()}; this connection is user {uid}'s")


def _peer_uid(connection: socket.socket) -> int | None:
    """The user owning the other end of a loopback TCP connection: the kernel's socket table,
    asked for that one socket (sock_diag netlink: microseconds), else read whole from /proc."""
    try:
        peer, local = connection.getpeername(), connection.getsockname()
    except OSError:
        return None
    try:
        return _sock_diag_uid(peer, local)
    except OSError:
        return _proc_uid(peer, local)


NETLINK_SOCK_DIAG, SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, NLMSG_ERROR = 4, 20, 1, 2


def _sock_diag_uid(peer: tuple, local: tuple) -> int | None:
    """inet_diag_req_v2 for the socket whose source is the peer and destination this server."""
    family = socket.AF_INET6 if ":" in peer[0] else socket.AF_INET
    source, destination = (socket.inet_pton(family, address[0]).ljust(16, b"\0") for address in (peer, local))
    request = (struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 0, 0, 0xFFFFFFFF)
               + struct.pack(">HH", peer[1], local[1]) + source + destination
               + struct.pack("=III", 0, 0xFFFFFFFF, 0xFFFFFFFF))  # any interface, no cookie
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG) as netlink:
        netlink.sendto(struct.pack("=IHHII", 16 + len(request), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, 1, 0) + request,
                       (0, 0))
        answer = netlink.recv(65536)
    if struct.unpack_from("=IH", answer)[1] == NLMSG_ERROR:
        return None
    return struct.unpack_from("=I", answer, 16 + 4 + 48 + 12)[0]  # nlmsghdr, 4 bytes, sockid, 3 counters, uid


def _proc_uid(peer: tuple, local: tuple) -> int | None:
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == peer[1] and int(fields[2].rsplit(":", 1)[1], 16) == local[1]:
                return int(fields[7])
    return None


def check_host(host: str, port: int) -> None:
    """The Host header names the loopback address and port the cloud listens on."""
    if host not in {f"{name}:{port}" for name in LOOPBACK_HOSTS}:
        raise Refused("AccessDenied", f"Host {host[:80]!r} is not this local cloud (127.0.0.1:{port} or "
                                      f"localhost:{port})")


# --- what was signed ---------------------------------------------------------------------------

def check_signature(environ: dict, body: bytes | None, secret_of, now: datetime.datetime | None = None) -> str:
    """The access key that signed the request (header or presigned URL), its signature recomputed
    with `secret_of(access key)`; Refused otherwise. `body` None: the payload hash is taken from
    x-amz-content-sha256 (S3 sends it; the body streams on)."""
    headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")}
    headers.update({name: environ[key] for name, key in (("content-type", "CONTENT_TYPE"),
                                                         ("content-length", "CONTENT_LENGTH")) if environ.get(key)})
    query = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    authorization = headers.get("authorization", "")
    if authorization.startswith("AWS4-HMAC-SHA256 "):
        fields = dict(part.strip().split("=", 1) for part in authorization[len("AWS4-HMAC-SHA256 "):].split(","))
        scope, signed, signature, timestamp = (fields.get("Credential", ""), fields.get("SignedHeaders", ""),
                                               fields.get("Signature", ""), headers.get("x-amz-date", ""))
        presigned = False
        _check_skew(timestamp, now)
    elif dict(query).get("X-Amz-Algorithm") == "AWS4-HMAC-SHA256":
        given = dict(query)
        scope, signed, signature, timestamp = (given.get("X-Amz-Credential", ""), given.get("X-Amz-SignedHeaders", ""),
                                               given.get("X-Amz-Signature", ""), given.get("X-Amz-Date", ""))
        presigned = True
        _check_expiry(timestamp, given.get("X-Amz-Expires", "0"), now)
    elif authorization.startswith("AWS ") or "AWSAccessKeyId" in dict(query):
        raise Refused("AccessDenied", "Signature Version 2 is not accepted (as by S3 for buckets made since 2020): "
                                      "sign with SigV4 (botocore Config(signature_version='s3v4'))")
    else:
        raise Refused("MissingAuthenticationToken", "Request is missing Authentication Token (sign it with the "
                                                    "credentials `localcloud up` printed)")
    parts = scope.split("/")
    if len(parts) != 5 or not timestamp:
        raise Refused("IncompleteSignature", "the request's signature is incomplete")
    access_key, _, region, service, _ = parts
    secret = secret_of(access_key)
    if secret is None:
        raise Refused("InvalidAccessKeyId", f"The AWS Access Key Id {access_key!r} does not exist in our records "
                                            "(this local cloud's keys are in server.json)")
    expected = _signature(environ, headers, query, body, signed.split(";"), presigned,
                          (Credentials(access_key, secret), region, service, timestamp))
    if not secrets.compare_digest(expected, signature):
        raise Refused("SignatureDoesNotMatch", "The request signature we calculated does not match the signature "
                                               "you provided. Check your key and signing method.")
    return access_key


def _signature(environ: dict, headers: dict, query: list, body: bytes | None, signed: list[str], presigned: bool,
               signer: tuple) -> str:
    credentials, region, service, timestamp = signer
    kept = [(k, v) for k, v in query if k != "X-Amz-Signature"]
    path = urlsplit(environ.get("RAW_URI") or environ.get("PATH_INFO", "/")).path
    url = f"http://{headers.get('host', '')}{path}" + (f"?{urlencode(kept)}" if kept else "")
    request = AWSRequest(method=environ.get("REQUEST_METHOD", "GET"), url=url,
                         headers={name: headers.get(name, "") for name in signed}, data=body or b"")
    request.context["timestamp"] = timestamp
    if presigned and service == "s3":
        payload = UNSIGNED_PAYLOAD
    elif body is None:  # S3 states the payload's hash (signed, or UNSIGNED-PAYLOAD) and streams the body
        payload = headers.get("x-amz-content-sha256", UNSIGNED_PAYLOAD)
    else:
        payload = hashlib.sha256(body).hexdigest()
    auth = _verifier(service, payload)(credentials, service, region)
    return auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)


def _verifier(service: str, payload: str) -> type:
    """botocore's signer for the service, with the payload hash the request stated or carried."""
    return type("Verifier", (S3SigV4Auth if service == "s3" else SigV4Auth,), {"payload": lambda self, request: payload})


MAX_SKEW = datetime.timedelta(minutes=15)  # how far a header-signed request's time may be from the server's


def _check_skew(timestamp: str, now: datetime.datetime | None) -> None:
    """A signed request dated more than 15 minutes from now is refused, as AWS refuses it."""
    try:
        signed_at = datetime.datetime.strptime(timestamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)
    except ValueError:
        raise Refused("IncompleteSignature", "X-Amz-Date is missing or malformed") from None
    if abs((now or datetime.datetime.now(datetime.UTC)) - signed_at) > MAX_SKEW:
        raise Refused("RequestTimeTooSkewed", "The difference between the request time and the current time is "
                                              "too large.")


def _check_expiry(timestamp: str, expires: str, now: datetime.datetime | None) -> None:
    try:
        signed_at = datetime.datetime.strptime(timestamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)
        seconds = int(expires)
    except ValueError:
        raise Refused("AuthorizationQueryParametersError", "X-Amz-Date or X-Amz-Expires is malformed") from None
    if (now or datetime.datetime.now(datetime.UTC)) > signed_at + datetime.timedelta(seconds=seconds):
        raise Refused("AccessDenied", "Request has expired")
