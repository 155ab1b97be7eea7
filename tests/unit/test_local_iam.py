"""The local cloud's IAM evaluator (localcloud/iam.py) against AWS's documented evaluation logic."""

import json

import pytest

from localcloud.iam import Policy, Request, UnsupportedCondition, condition_holds, evaluate

ROLE = "arn:aws:iam::000000000000:role/Stage"
BUCKET = "arn:aws:s3:::data"


def policy(*statements, name="p"):
    return Policy(name, {"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource, **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def test_nothing_allows_by_default_and_an_identity_allow_allows():
    request = Request(ROLE, "s3:GetObject", f"{BUCKET}/runs/r1/a.json")
    assert not evaluate(request, []).allowed
    decision = evaluate(request, [policy(allow("s3:GetObject", f"{BUCKET}/runs/*"))])
    assert decision.allowed and decision.statement["Resource"] == f"{BUCKET}/runs/*"


def test_an_explicit_deny_anywhere_wins():
    request = Request(ROLE, "s3:GetObject", f"{BUCKET}/a")
    deny = {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": f"{BUCKET}/*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    insecure = Request(ROLE, "s3:GetObject", f"{BUCKET}/a", {"aws:SecureTransport": "false"})
    assert not evaluate(insecure, [policy(allow("s3:*", "*"))], policy(deny)).allowed
    assert evaluate(Request(ROLE, "s3:GetObject", f"{BUCKET}/a", {"aws:SecureTransport": "true"}),
                    [policy(allow("s3:*", "*"))], policy(deny)).allowed
    assert not evaluate(request, [policy(allow("s3:*", "*"), {"Effect": "Deny", "Action": "s3:Get*",
                                                               "Resource": "*"})]).allowed


def test_actions_match_case_insensitively_and_resources_case_sensitively():
    assert evaluate(Request(ROLE, "s3:GetObject", f"{BUCKET}/a"), [policy(allow("S3:getobject", f"{BUCKET}/a"))]).allowed
    assert not evaluate(Request(ROLE, "s3:GetObject", f"{BUCKET}/A"), [policy(allow("s3:GetObject", f"{BUCKET}/a"))]).allowed
    assert evaluate(Request(ROLE, "glue:GetTable", "arn:aws:glue:us-east-1:0:table/db/t_1"),
                    [policy(allow("glue:Get*", "arn:aws:glue:us-east-1:0:table/db/t_?"))]).allowed


def test_not_action_and_not_resource():
    statement = {"Effect": "Allow", "NotAction": "iam:*", "NotResource": f"{BUCKET}/secret/*"}
    assert evaluate(Request(ROLE, "s3:GetObject", f"{BUCKET}/a"), [policy(statement)]).allowed
    assert not evaluate(Request(ROLE, "iam:PassRole", "*"), [policy(statement)]).allowed
    assert not evaluate(Request(ROLE, "s3:GetObject", f"{BUCKET}/secret/x"), [policy(statement)]).allowed


def test_a_list_grant_holds_only_for_the_prefixes_it_names():
    """s3:prefix is compared as given: a grant naming files refuses a folder listing."""
    grant = policy(allow("s3:ListBucket", BUCKET, Condition={"StringLike": {"s3:prefix": ["runs/*/a.json"]}}))
    assert evaluate(Request(ROLE, "s3:ListBucket", BUCKET, {"s3:prefix": "runs/r1/a.json"}), [grant]).allowed
    assert not evaluate(Request(ROLE, "s3:ListBucket", BUCKET, {"s3:prefix": "runs/r1/"}), [grant]).allowed
    assert not evaluate(Request(ROLE, "s3:ListBucket", BUCKET), [grant]).allowed  # no prefix: the key is absent


def test_a_resource_policy_allows_the_principal_it_names_and_a_service_only_through_it():
    topic = "arn:aws:sns:us-east-1:000000000000:alerts"
    alarm = "arn:aws:cloudwatch:us-east-1:000000000000:alarm:Failed"
    statement = {"Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"}, "Action": "sns:Publish",
                 "Resource": topic, "Condition": {"ArnEquals": {"aws:SourceArn": [alarm]}}}
    published = Request("cloudwatch.amazonaws.com", "sns:Publish", topic, {"aws:SourceArn": alarm})
    assert evaluate(published, [], policy(statement)).allowed
    other = Request("cloudwatch.amazonaws.com", "sns:Publish", topic, {"aws:SourceArn": alarm + "2"})
    assert not evaluate(other, [], policy(statement)).allowed
    tls_only = {"Effect": "Deny", "Principal": "*", "Action": "sns:Publish", "Resource": topic,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    assert not evaluate(published, [], policy(tls_only)).allowed  # a deny-only policy admits no service
    named = {"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "sns:Publish", "Resource": topic}
    assert evaluate(Request(ROLE, "sns:Publish", topic), [], policy(named)).allowed


def test_a_key_policy_must_allow_directly_or_admit_the_accounts_identity_policies():
    key = "arn:aws:kms:us-east-1:000000000000:key/k1"
    root = {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:root"}, "Action": "kms:*",
            "Resource": "*"}
    decrypt = Request(ROLE, "kms:Decrypt", key, {"kms:ViaService": "s3.us-east-1.amazonaws.com"})
    identity = [policy(allow("kms:Decrypt", key))]
    assert evaluate(decrypt, identity, policy(root), key_policy=True).allowed
    assert not evaluate(decrypt, [], policy(root), key_policy=True).allowed  # root delegates, grants nothing
    assert not evaluate(decrypt, identity, policy({**root, "Principal": {"AWS": "arn:aws:iam::1:role/x"}}),
                        key_policy=True).allowed  # the key policy admits neither the role nor the account
    direct = {"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "kms:Decrypt", "Resource": "*"}
    assert evaluate(decrypt, [], policy(direct), key_policy=True).allowed


@pytest.mark.parametrize(("operator", "expected", "actual", "holds"), [
    ("StringEquals", "a", "a", True), ("StringEquals", ["a", "b"], "b", True), ("StringNotEquals", ["a", "b"], "b", False),
    ("StringNotEquals", ["a", "b"], "c", True), ("StringLike", "runs/*/", "runs/r1/", True),
    ("StringLikeIfExists", "x", None, True), ("StringLike", "x", None, False), ("ArnLike", "arn:aws:s3:::b/*", "arn:aws:s3:::b/k", True),
    ("Bool", "true", "true", True), ("Bool", True, "true", True), ("NumericLessThan", "1.2", "1.0", True),
    ("Null", "true", None, True), ("Null", "false", None, False), ("Null", "false", "x", True),
    ("ForAllValues:StringEquals", ["a", "b"], ["a", "b"], True), ("ForAllValues:StringEquals", ["a"], ["a", "c"], False),
    ("ForAnyValue:StringEquals", ["a"], ["c", "a"], True), ("DateLessThan", "2030-01-01T00:00:00Z", "2026-12-02T00:00:00Z", True),
    ("IpAddress", "127.0.0.0/8", "127.0.0.1", True),
])
def test_condition_operators(operator, expected, actual, holds):
    context = {} if actual is None else {"Some:Key": actual}
    assert condition_holds(operator, "some:key", expected, context) is holds


def test_an_operator_it_does_not_know_is_named():
    with pytest.raises(UnsupportedCondition, match="BinaryEquals"):
        condition_holds("BinaryEquals", "k", "x", {"k": "x"})


def test_the_report_counts_used_and_unused_grants_and_lists_denials(tmp_path):
    from localcloud.iam_report import report

    role = "arn:aws:iam::000000000000:role/Stage"
    document = {"Statement": [allow(["s3:GetObject", "s3:PutObject"], f"{BUCKET}/runs/*"),
                              allow("xray:PutTraceSegments", "*")]}
    (tmp_path / "iam-policies.json").write_text(json.dumps({role: [{"name": "Stage/p", "document": document}]}))
    decisions = [{"principal": role, "action": "s3:GetObject", "resource": f"{BUCKET}/runs/r1/a", "decision": "allow",
                  "reason": "allowed"},
                 {"principal": role, "action": "s3:ListBucket", "resource": BUCKET, "decision": "deny",
                  "reason": "implicit deny"}]
    (tmp_path / "iam.jsonl").write_text("\n".join(json.dumps(d) for d in decisions) + "\n")
    summary = report(tmp_path)
    usage = summary["roles"][role]
    assert (usage["grants"], usage["used"], usage["requests_allowed"]) == (3, 1, 1)
    assert usage["unused_actions"] == ["s3:PutObject", "xray:PutTraceSegments"]
    assert summary["denials"] == [{"principal": role, "action": "s3:ListBucket", "resource": BUCKET,
                                   "reason": "implicit deny"}]


def test_the_report_says_when_no_run_recorded_decisions(tmp_path, monkeypatch, capsys):
    from localcloud.__main__ import main

    monkeypatch.chdir(tmp_path)
    assert main(["iam-report"]) == 1
    assert "no IAM decisions recorded yet" in capsys.readouterr().err
