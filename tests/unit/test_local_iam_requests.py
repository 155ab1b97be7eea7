"""Requests mapped to the IAM actions, resources and context keys AWS authorizes them by
(localcloud/iam_requests.py), and denials answered in each protocol's error shape."""

import json

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from localcloud import iam_gate
from localcloud.iam_requests import Call, Requests

REQUESTS = Requests("000000000000", "us-east-1")


def s3(method: str, path: str, query: dict | None = None, host: str = "127.0.0.1:4566", headers=None):
    return REQUESTS.s3(Call(method, host, path, query or {}, headers or {}, b""))


@pytest.mark.parametrize(("method", "path", "query", "action", "resource", "context"), [
    ("GET", "/data/", {"list-type": "2", "prefix": "runs/r1/"}, "s3:ListBucket", "arn:aws:s3:::data",
     {"s3:prefix": "runs/r1/"}),
    ("HEAD", "/data", {}, "s3:ListBucket", "arn:aws:s3:::data", {}),
    ("GET", "/data", {"location": ""}, "s3:GetBucketLocation", "arn:aws:s3:::data", {}),
    ("GET", "/data", {"uploads": ""}, "s3:ListBucketMultipartUploads", "arn:aws:s3:::data", {}),
    ("GET", "/data/runs/r1/a.json", {}, "s3:GetObject", "arn:aws:s3:::data/runs/r1/a.json", {}),
    ("HEAD", "/data/runs/r1/a.json", {}, "s3:GetObject", "arn:aws:s3:::data/runs/r1/a.json", {}),
    ("GET", "/data/a", {"versionId": "v1"}, "s3:GetObjectVersion", "arn:aws:s3:::data/a", {}),
    ("PUT", "/data/a", {}, "s3:PutObject", "arn:aws:s3:::data/a", {}),
    ("POST", "/data/a", {"uploads": ""}, "s3:PutObject", "arn:aws:s3:::data/a", {}),
    ("PUT", "/data/a", {"partNumber": "1", "uploadId": "u"}, "s3:PutObject", "arn:aws:s3:::data/a", {}),
    ("GET", "/data/a", {"uploadId": "u"}, "s3:ListMultipartUploadParts", "arn:aws:s3:::data/a", {}),
    ("DELETE", "/data/a", {"uploadId": "u"}, "s3:AbortMultipartUpload", "arn:aws:s3:::data/a", {}),
    ("DELETE", "/data/a", {}, "s3:DeleteObject", "arn:aws:s3:::data/a", {}),
    ("DELETE", "/data/a", {"versionId": "v1"}, "s3:DeleteObjectVersion", "arn:aws:s3:::data/a", {}),
])
def test_s3_requests_map_to_their_actions(method, path, query, action, resource, context):
    [check] = s3(method, path, query)  # no such bucket here: no policy, no key
    assert (check.action, check.resource, check.context) == (action, resource, context)


def test_virtual_hosted_addressing_names_the_bucket_in_the_host_and_a_copy_reads_its_source():
    [check] = s3("GET", "/runs/r1/a.json", host="data.localhost:4566")
    assert check.resource == "arn:aws:s3:::data/runs/r1/a.json"
    put, get = s3("PUT", "/data/b", headers={"x-amz-copy-source": "/other/a%20b"})
    assert (put.action, get.action, get.resource) == ("s3:PutObject", "s3:GetObject", "arn:aws:s3:::other/a b")


def test_json_services_name_their_resources():
    glue = REQUESTS.describe(Call("POST", "", "/", {}, {"x-amz-target": "AWSGlue.GetTable"},
                                  json.dumps({"DatabaseName": "db", "Name": "t"}).encode()), "glue")
    assert [c.resource for c in glue] == ["arn:aws:glue:us-east-1:000000000000:catalog",
                                          "arn:aws:glue:us-east-1:000000000000:database/db",
                                          "arn:aws:glue:us-east-1:000000000000:table/db/t"]
    batch = REQUESTS.describe(Call("POST", "", "/", {}, {"x-amz-target": "DynamoDB_20120810.BatchWriteItem"},
                                   json.dumps({"RequestItems": {"cache": []}}).encode()), "dynamodb")
    assert [(c.action, c.resource) for c in batch] == [("dynamodb:BatchWriteItem",
                                                        "arn:aws:dynamodb:us-east-1:000000000000:table/cache")]
    athena = REQUESTS.describe(Call("POST", "", "/", {}, {"x-amz-target": "AmazonAthena.StartQueryExecution"},
                                    json.dumps({"WorkGroup": "wg", "QueryString": "SELECT 1"}).encode()), "athena")
    assert [(c.action, c.resource) for c in athena] == [("athena:StartQueryExecution",
                                                         "arn:aws:athena:us-east-1:000000000000:workgroup/wg")]


def test_bedrock_calls_name_the_profile_and_its_model_or_the_knowledge_base():
    converse = REQUESTS.describe(Call("POST", "", "/model/us.anthropic.claude-x/converse", {}, {}, b"{}"), "bedrock")
    assert [c.resource for c in converse] == [
        "arn:aws:bedrock:us-east-1:000000000000:inference-profile/us.anthropic.claude-x",
        "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-x"]
    sync = REQUESTS.describe(Call("PUT", "", "/knowledgebases/KB1/datasources/DS1/ingestionjobs/", {}, {}, b"{}"),
                             "bedrock")
    retrieve = REQUESTS.describe(Call("POST", "", "/knowledgebases/KB1/retrieve", {}, {}, b"{}"), "bedrock")
    assert [(c.action, c.resource) for c in sync + retrieve] == [
        ("bedrock:StartIngestionJob", "arn:aws:bedrock:us-east-1:000000000000:knowledge-base/KB1"),
        ("bedrock:Retrieve", "arn:aws:bedrock:us-east-1:000000000000:knowledge-base/KB1")]


def test_an_unmapped_action_is_asked_on_every_resource_so_scoped_grants_refuse_it():
    [check] = REQUESTS.describe(Call("POST", "", "/", {}, {"x-amz-target": "AWSGlue.SomethingNew"}, b"{}"), "glue")
    assert check.resource.endswith(":catalog") and check.action == "glue:SomethingNew"


@pytest.fixture(scope="module")
def gated(tmp_path_factory):
    """A moto server behind the gate, with one role that may read one bucket's runs/ objects (a bucket name no other test uses: moto's backends are process-wide)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    endpoint = "http://127.0.0.1:%d" % server.get_host_and_port()[1]
    gate = iam_gate.Gate("000000000000", "us-east-1", tmp_path_factory.mktemp("logs") / "iam.jsonl")
    iam_gate.install(gate, Requests("000000000000", "us-east-1"))
    operator = {"endpoint_url": endpoint, "region_name": "us-east-1", "aws_access_key_id": "local",
                "aws_secret_access_key": "local"}
    boto3.client("s3", **operator).create_bucket(Bucket="gated-reads")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole"}]}
    role = boto3.client("iam", **operator).create_role(RoleName="Reader", AssumeRolePolicyDocument=json.dumps(trust))
    boto3.client("iam", **operator).put_role_policy(RoleName="Reader", PolicyName="read", PolicyDocument=json.dumps(
        {"Version": "2012-10-17",
         "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::gated-reads/runs/*"}]}))
    session = gate.session(role["Role"]["Arn"], "lambda.amazonaws.com")
    as_role = {**operator, "aws_access_key_id": session.access_key, "aws_secret_access_key": session.secret_key,
               "aws_session_token": session.token}
    yield gate, operator, as_role, role["Role"]["Arn"]
    server.stop()


def test_a_role_gets_what_it_is_granted_and_an_access_denied_naming_itself_and_the_action(gated):
    gate, operator, as_role, role_arn = gated
    boto3.client("s3", **operator).put_object(Bucket="gated-reads", Key="runs/r1/a.json", Body=b"{}")
    assert boto3.client("s3", **as_role).get_object(Bucket="gated-reads", Key="runs/r1/a.json")["Body"].read() == b"{}"
    with pytest.raises(ClientError) as refused:
        boto3.client("s3", **as_role).list_objects_v2(Bucket="gated-reads", Prefix="runs/")
    error = refused.value.response["Error"]
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403 and error["Code"] == "AccessDenied"
    assert "assumed-role/Reader/lambda" in error["Message"] and "s3:ListBucket" in error["Message"]
    with pytest.raises(ClientError) as json_refused:
        boto3.client("glue", **as_role).get_table(DatabaseName="db", Name="t")
    assert json_refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "glue:GetTable" in json_refused.value.response["Error"]["Message"]
    gate.flush()
    decisions = [json.loads(line) for line in gate.log_path.read_text().splitlines()]
    # Each request's decisions (an SDK retry repeats them; a bucket under a key would add kms:Decrypt).
    decided = {(d["action"], d["decision"]) for d in decisions if d["principal"] == role_arn}
    assert {("s3:GetObject", "allow"), ("s3:ListBucket", "deny"), ("glue:GetTable", "deny")} <= decided
    assert ("s3:GetObject", "deny") not in decided and ("s3:ListBucket", "allow") not in decided


def test_a_role_whose_trust_policy_does_not_admit_the_service_gets_no_credentials(gated):
    gate, _, _, role_arn = gated
    with pytest.raises(iam_gate.AccessDenied, match="sts:AssumeRole"):
        gate.session(role_arn, "ecs-tasks.amazonaws.com")


def test_the_operator_is_not_checked(gated):
    _, operator, _, _ = gated
    listed = boto3.client("s3", **operator).list_objects_v2(Bucket="gated-reads", Prefix="runs/")
    assert [item["Key"] for item in listed.get("Contents", [])] == ["runs/r1/a.json"]
