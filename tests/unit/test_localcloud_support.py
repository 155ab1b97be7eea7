"""What the local cloud cannot create or run is refused at deploy time, by name."""

import pytest

from localcloud.assembly import StackArtifact
from localcloud.cloud import unsupported_resources
from localcloud.definition import unsupported

TASK = "arn:aws:states:::{}"


def test_states_the_local_cloud_cannot_run_are_named():
    definition = {"StartAt": "Prepare", "States": {
        "Prepare": {"Type": "Task", "Resource": TASK.format("athena:startQueryExecution.sync"), "Next": "Fan"},
        "Fan": {"Type": "Parallel", "Next": "Each", "Branches": [{"StartAt": "Etl", "States": {
            "Etl": {"Type": "Task", "Resource": TASK.format("glue:startJobRun.sync"), "End": True}}}]},
        "Each": {"Type": "Map", "End": True, "ItemProcessor": {}},
    }}
    problems = unsupported(definition)
    assert len(problems) == 2
    assert problems[0].startswith("state Fan / Etl: arn:aws:states:::glue:startJobRun.sync is not supported locally")
    assert problems[1].startswith("state Each: Map states are not supported locally")


def test_resources_the_local_cloud_cannot_create_are_named():
    stack = StackArtifact(name="EngagementAi", termination_protection=False, depends_on=(), template={"Resources": {
        "Role": {"Type": "AWS::IAM::Role"}, "Bucket": {"Type": "AWS::S3::Bucket"},
        "KnowledgeBase": {"Type": "AWS::Bedrock::KnowledgeBase"}}})
    assert unsupported_resources([stack]) == ["EngagementAi/KnowledgeBase: AWS::Bedrock::KnowledgeBase"]


def test_the_s3_mirror_refuses_keys_that_lead_outside_it(tmp_path):
    import boto3
    import pytest
    from moto import mock_aws

    from localcloud.athena_duckdb import AthenaSqlError
    from localcloud.cloud import MotoS3Store

    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="data")
        s3.put_object(Bucket="data", Key="tables/../../../escaped.txt", Body=b"x")
        store = MotoS3Store(s3, tmp_path / "mirror")
        with pytest.raises(AthenaSqlError, match="leads outside"):
            store.folder("s3://data/tables/")
    assert not (tmp_path / "escaped.txt").exists()


def test_the_local_key_file_is_private_from_its_first_byte(tmp_path, monkeypatch):
    import os

    from localcloud import cloud

    opened = []
    real_open = os.open
    monkeypatch.setattr(cloud.os, "open", lambda path, flags, mode=0o777: opened.append(mode) or real_open(path, flags, mode))
    cloud._create_private(tmp_path / "key", b"secret")
    assert opened == [0o600] and (tmp_path / "key").stat().st_mode & 0o777 == 0o600
    cloud._create_private(tmp_path / "key", b"other")  # never replaced
    assert (tmp_path / "key").read_bytes() == b"secret"


def test_bucket_policy_conditions_are_evaluated_as_aws_does():
    from localcloud.policies import LOOPBACK_REQUEST, condition_holds

    secure = [LOOPBACK_REQUEST["aws:SecureTransport"]]
    assert not condition_holds("Bool", "false", secure)  # the deny-insecure-transport statement does not apply
    assert not condition_holds("NumericLessThan", "1.2", [LOOPBACK_REQUEST["s3:TlsVersion"]])
    assert condition_holds("NumericLessThan", "1.2", ["1.0"])
    assert not condition_holds("StringEquals", "123456789012", [])  # a key the request lacks: false
    assert condition_holds("StringEqualsIfExists", "123456789012", [])
    assert condition_holds("ArnLike", ["arn:aws:s3:::a*", "arn:aws:s3:::b*"], ["arn:aws:s3:::bucket"])
    assert not condition_holds("StringNotEquals", ["a", "b"], ["b"])
    with pytest.raises(NotImplementedError, match="ForAnyValue:StringLike"):
        condition_holds("ForAnyValue:StringLike", "x", ["x"])


def test_a_type_neither_moto_nor_the_local_cloud_creates_fails_by_name():
    from moto.cloudformation import parsing

    from localcloud import cloudformation

    cloudformation.install()
    assert parsing.resource_class_from_type("AWS::Glue::Table").cloudformation_type() == "AWS::Glue::Table"
    with pytest.raises(cloudformation.UnsupportedResource, match="AWS::Made::Up"):
        parsing.resource_class_from_type("AWS::Made::Up")
