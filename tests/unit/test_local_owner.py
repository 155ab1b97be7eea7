"""The local cloud answers its owner only: private state, the session's keys with signatures checked
as AWS checks them (headers and presigned URLs), the owner's connections, its own Host, no CORS."""

import datetime
import json
import os
import socket
import stat
import subprocess
import sys
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from localcloud import iam_gate, owner
from localcloud.iam_requests import Requests


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    port = server.get_host_and_port()[1]
    operator = owner.Operator.new()
    gate = iam_gate.Gate("000000000000", "us-east-1", tmp_path_factory.mktemp("logs") / "iam.jsonl", operator=operator)
    iam_gate.install(gate, Requests("000000000000", "us-east-1"))
    yield f"http://127.0.0.1:{port}", operator
    owners = s3(f"http://127.0.0.1:{port}", operator.access_key, operator.secret_key)
    for bucket in ("owners", "presigned"):  # moto's backends are process-wide: leave them as found
        for item in owners.list_objects_v2(Bucket=bucket).get("Contents", []):
            owners.delete_object(Bucket=bucket, Key=item["Key"])
        owners.delete_bucket(Bucket=bucket)
    iam_gate.uninstall(gate)  # moto's server application is process-wide: other tests' servers answer anyone
    server.stop()


def s3(endpoint: str, access_key: str, secret_key: str):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=access_key,
                        aws_secret_access_key=secret_key, config=Config(signature_version="s3v4"))


def test_the_sessions_keys_work_and_invented_or_wrong_ones_are_refused_as_aws_refuses_them(served):
    endpoint, operator = served
    s3(endpoint, operator.access_key, operator.secret_key).create_bucket(Bucket="owners")
    for keys, code in (((operator.access_key, "not-the-secret"), "SignatureDoesNotMatch"),
                       (("AKIAINVENTED", "invented"), "InvalidAccessKeyId"), (("local", "local"), "InvalidAccessKeyId")):
        with pytest.raises(ClientError) as refused:
            s3(endpoint, *keys).list_buckets()
        assert refused.value.response["Error"]["Code"] == code
    dynamodb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                            aws_access_key_id="AKIAINVENTED", aws_secret_access_key="x")
    with pytest.raises(ClientError, match="UnrecognizedClientException"):
        dynamodb.list_tables()


def test_a_presigned_url_works_only_with_the_sessions_keys_and_until_it_expires(served):
    endpoint, operator = served
    owners = s3(endpoint, operator.access_key, operator.secret_key)
    owners.create_bucket(Bucket="presigned")
    owners.put_object(Bucket="presigned", Key="raw.csv", Body=b"name,email\n")
    good = owners.generate_presigned_url("get_object", Params={"Bucket": "presigned", "Key": "raw.csv"})
    assert urllib.request.urlopen(good).read() == b"name,email\n"
    invented = s3(endpoint, "AKIAINVENTED", "invented").generate_presigned_url(
        "get_object", Params={"Bucket": "presigned", "Key": "raw.csv"})
    tampered = good.replace("raw.csv", "other.csv")
    version_2 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=operator.access_key,
                             aws_secret_access_key=operator.secret_key).generate_presigned_url(
        "get_object", Params={"Bucket": "presigned", "Key": "raw.csv"})  # boto3's default here: SigV2
    for url in (invented, tampered, f"{endpoint}/presigned/raw.csv", version_2):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url)
        assert refused.value.code == 403
    past = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=2)
    query = dict(part.split("=", 1) for part in good.split("?", 1)[1].split("&"))
    with pytest.raises(owner.Refused, match="expired"):
        owner._check_expiry(query["X-Amz-Date"], query["X-Amz-Expires"], past)


def test_no_cors_and_no_other_host(served):
    """A page in the owner's browser reads nothing (no Access-Control-Allow-Origin), and a
    DNS-rebinding page (its own host name pointing at 127.0.0.1) is refused."""
    endpoint, operator = served
    client = s3(endpoint, operator.access_key, operator.secret_key)
    client.meta.events.register("before-send.s3.ListBuckets",
                                lambda request, **kwargs: request.headers.__setitem__("Origin", "https://evil.example"))
    answer = client.list_buckets()
    assert not {k.lower() for k in answer["ResponseMetadata"]["HTTPHeaders"]} & {"access-control-allow-origin"}
    port = endpoint.rsplit(":", 1)[1]
    preflight = urllib.request.Request(f"{endpoint}/presigned/raw.csv", method="OPTIONS",
                                       headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(preflight)
    assert "Access-Control-Allow-Origin" not in refused.value.headers
    with pytest.raises(owner.Refused, match="not this local cloud"):
        owner.check_host(f"rebind.evil.example:{port}", int(port))
    owner.check_host(f"localhost:{port}", int(port))


def test_a_connection_from_another_user_is_refused(monkeypatch):
    listener = socket.create_server(("127.0.0.1", 0))
    with listener, socket.create_connection(listener.getsockname()):
        accepted, _ = listener.accept()
        with accepted:
            assert owner._peer_uid(accepted) == os.getuid()  # the kernel names the connecting socket's owner
            assert owner._proc_uid(accepted.getpeername(), accepted.getsockname()) == os.getuid()
            monkeypatch.setattr(owner.os, "getuid", lambda: os.geteuid() + 1)
            with pytest.raises(owner.Refused, match="this connection is user"):
                owner.check_connection(accepted)


@pytest.mark.skipif(os.geteuid() != 0, reason="becoming another user needs root")
def test_another_user_cannot_even_ask(served):
    """A process of user nobody connects to the served cloud: refused before anything is read."""
    endpoint, _ = served
    port = int(endpoint.rsplit(":", 1)[1])
    script = ("import encodings.idna, os, socket; os.setgid(65534); os.setuid(65534); "
              f"s = socket.create_connection(('127.0.0.1', {port})); "
              f"s.sendall(b'GET / HTTP/1.1\\r\\nHost: 127.0.0.1:{port}\\r\\n\\r\\n'); "
              "print(s.recv(200).split(b'\\r\\n')[0].decode())")
    answer = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert answer.stdout.strip() == "HTTP/1.1 403 Forbidden", answer.stdout + answer.stderr


def test_the_state_is_private(tmp_path):
    before = os.umask(0o022)
    try:
        state = tmp_path / "state"
        state.mkdir(mode=0o755)
        owner.private(state)
        (state / "server.json").write_text(json.dumps({"credentials": {}}))
        (state / "logs").mkdir()
        assert stat.S_IMODE(state.stat().st_mode) == 0o700
        assert stat.S_IMODE((state / "server.json").stat().st_mode) == 0o600
        assert stat.S_IMODE((state / "logs").stat().st_mode) == 0o700
    finally:
        os.umask(before)


def test_credentials_its_sts_and_iam_gave_out_are_known(served):
    """cdklocal assumes the bootstrap roles with the operator's keys and deploys with what STS
    returns; those keys are the cloud's own, as on AWS."""
    endpoint, operator = served
    keys = {"endpoint_url": endpoint, "region_name": "us-east-1", "aws_access_key_id": operator.access_key,
            "aws_secret_access_key": operator.secret_key}
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"AWS": "arn:aws:iam::000000000000:root"}}]}
    role = boto3.client("iam", **keys).create_role(RoleName="Deployer", AssumeRolePolicyDocument=json.dumps(trust))
    assumed = boto3.client("sts", **keys).assume_role(RoleArn=role["Role"]["Arn"], RoleSessionName="cdk")["Credentials"]
    as_role = s3(endpoint, assumed["AccessKeyId"], assumed["SecretAccessKey"])
    as_role.meta.events.register("before-sign.s3.*", lambda request, **kwargs: request.headers.__setitem__(
        "X-Amz-Security-Token", assumed["SessionToken"]))
    assert "Buckets" in as_role.list_buckets()
    with pytest.raises(ClientError, match="SignatureDoesNotMatch"):
        s3(endpoint, assumed["AccessKeyId"], "not-its-secret").list_buckets()


def test_a_request_signed_long_ago_is_refused_as_aws_refuses_it(served, monkeypatch):
    """AWS refuses a header-signed request dated more than 15 minutes from its clock."""
    import botocore.auth

    endpoint, operator = served
    client = s3(endpoint, operator.access_key, operator.secret_key)
    stale = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - datetime.timedelta(minutes=20)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *args, **kwargs: stale)
    with pytest.raises(ClientError) as refused:
        client.list_buckets()
    assert refused.value.response["Error"]["Code"] == "RequestTimeTooSkewed"
