"""The local cloud's CloudFormation and runtimes: what it cannot create or run is refused by name;
what it supplies behaves as on AWS."""

import json
import os

import pytest

from localcloud.definition import unsupported

TASK = "arn:aws:states:::{}"


def test_states_the_local_cloud_cannot_run_are_named():
    definition = {"StartAt": "Prepare", "States": {
        "Prepare": {"Type": "Task", "Resource": TASK.format("athena:startQueryExecution.sync"), "Next": "Fan"},
        "Fan": {"Type": "Parallel", "Next": "Each", "Branches": [{"StartAt": "Etl", "States": {
            "Etl": {"Type": "Task", "Resource": TASK.format("glue:startJobRun.sync"), "End": True}}}]},
        "Each": {"Type": "Map", "Next": "Wait", "ItemReader": {"Resource": TASK.format("s3:listObjectsV2")},
                 "ItemProcessor": {"StartAt": "Crawl", "States": {
                     "Crawl": {"Type": "Task", "Resource": TASK.format("glue:startCrawler"), "End": True}}}},
        "Wait": {"Type": "Wait", "Seconds": 1, "Next": "Poll"},
        "Poll": {"Type": "Activity", "End": True},
    }}
    problems = unsupported(definition)
    assert len(problems) == 4, problems
    assert problems[0].startswith("state Fan / Etl: arn:aws:states:::glue:startJobRun.sync is not supported locally")
    assert problems[1].startswith("state Each: ItemReader s3:listObjectsV2 is not supported locally")
    assert problems[2].startswith("state Each / Crawl: arn:aws:states:::glue:startCrawler is not supported locally")
    assert problems[3].startswith("state Poll: Activity states are not supported locally")


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


def test_bucket_policy_conditions_are_evaluated_as_aws_does():
    from localcloud.iam import condition_holds
    from localcloud.policies import LOOPBACK_REQUEST

    assert not condition_holds("Bool", "aws:SecureTransport", "false", LOOPBACK_REQUEST)  # the TLS deny does not apply
    assert not condition_holds("NumericLessThan", "s3:TlsVersion", "1.2", LOOPBACK_REQUEST)
    assert condition_holds("NumericLessThan", "s3:TlsVersion", "1.2", {"s3:TlsVersion": "1.0"})


def test_a_type_neither_moto_nor_the_local_cloud_creates_is_refused_by_name():
    import boto3
    from moto import mock_aws

    from localcloud import cloudformation

    cloudformation.install()
    template = {"Resources": {"Table": {"Type": "AWS::Glue::Database", "Properties": {"DatabaseInput": {"Name": "d"}}},
                              "Odd": {"Type": "AWS::Made::Up"}}}
    assert cloudformation.unsupported_types(template) == ["Odd: AWS::Made::Up"]
    with mock_aws():
        client = boto3.client("cloudformation", region_name="us-east-1", aws_access_key_id="t",
                              aws_secret_access_key="t")
        with pytest.raises(client.exceptions.ClientError, match="cannot create Odd: AWS::Made::Up"):
            client.create_change_set(StackName="S", ChangeSetName="c", ChangeSetType="CREATE",
                                     TemplateBody=json.dumps(template))


def test_change_sets_create_and_update_the_types_moto_skips_and_publish_exports():
    import boto3
    from moto import mock_aws

    from localcloud import cloudformation

    cloudformation.install()
    template = {"Resources": {
        "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.0.0.0/16"}},
        "Workload": {"Type": "AWS::EC2::SecurityGroup", "Properties": {"GroupDescription": "w", "VpcId": {"Ref": "Vpc"}}},
        "Endpoints": {"Type": "AWS::EC2::SecurityGroup", "Properties": {"GroupDescription": "e", "VpcId": {"Ref": "Vpc"}}},
        "ToEndpoints": {"Type": "AWS::EC2::SecurityGroupEgress", "Properties": {
            "GroupId": {"Fn::GetAtt": ["Workload", "GroupId"]}, "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
            "DestinationSecurityGroupId": {"Fn::GetAtt": ["Endpoints", "GroupId"]}}},
        "Topic": {"Type": "AWS::SNS::Topic"},
        "TopicPolicy": {"Type": "AWS::SNS::TopicPolicy", "Properties": {"Topics": [{"Ref": "Topic"}], "PolicyDocument": {
            "Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "sns:Publish",
                                                    "Resource": {"Ref": "Topic"}}]}}},
        "Failures": {"Type": "AWS::CloudWatch::Alarm", "Properties": {
            "AlarmActions": [{"Ref": "Topic"}], "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "EvaluationPeriods": 1, "MetricName": "ExecutionsFailed", "Namespace": "AWS/States", "Period": 300,
            "Statistic": "Sum", "Threshold": 1}},
        "Database": {"Type": "AWS::Glue::Database", "Properties": {"DatabaseInput": {"Name": "lake"}}}},
        "Outputs": {"Db": {"Value": {"Ref": "Database"}, "Export": {"Name": "S-Database"}}}}
    with mock_aws():
        session = {"region_name": "us-east-1", "aws_access_key_id": "t", "aws_secret_access_key": "t"}
        cfn = boto3.client("cloudformation", **session)
        cfn.create_change_set(StackName="S", ChangeSetName="c", ChangeSetType="CREATE", TemplateBody=json.dumps(template))
        cfn.execute_change_set(ChangeSetName="c", StackName="S")
        assert {e["Name"]: e["Value"] for e in cfn.list_exports()["Exports"]} == {"S-Database": "lake"}
        [alarm] = boto3.client("cloudwatch", **session).describe_alarms()["MetricAlarms"]
        assert alarm["MetricName"] == "ExecutionsFailed"
        [topic] = boto3.client("sns", **session).list_topics()["Topics"]
        policy = boto3.client("sns", **session).get_topic_attributes(TopicArn=topic["TopicArn"])["Attributes"]["Policy"]
        assert json.loads(policy)["Statement"][0]["Effect"] == "Deny"
        ec2 = boto3.client("ec2", **session)
        workload = ec2.describe_security_groups(Filters=[{"Name": "description", "Values": ["w"]}])["SecurityGroups"][0]
        assert any(pair["GroupId"] for rule in workload["IpPermissionsEgress"] for pair in rule.get("UserIdGroupPairs", []))
        # A second deploy with a change updates in place: the same alarm, one egress rule, the export kept.
        template["Resources"]["Failures"]["Properties"]["Threshold"] = 2
        template["Resources"]["Database"]["Properties"]["DatabaseInput"]["Description"] = "changed"
        cfn.create_change_set(StackName="S", ChangeSetName="u", ChangeSetType="UPDATE", TemplateBody=json.dumps(template))
        cfn.execute_change_set(ChangeSetName="u", StackName="S")
        [alarm] = boto3.client("cloudwatch", **session).describe_alarms()["MetricAlarms"]
        assert alarm["Threshold"] == 2
        assert boto3.client("glue", **session).get_database(Name="lake")["Database"]["Description"] == "changed"
        workload = ec2.describe_security_groups(GroupIds=[workload["GroupId"]])["SecurityGroups"][0]
        assert sum(len(rule.get("UserIdGroupPairs", [])) for rule in workload["IpPermissionsEgress"]) == 1
        assert {e["Name"] for e in cfn.list_exports()["Exports"]} == {"S-Database"}


def lambda_role(session: dict) -> str:
    import boto3

    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "lambda.amazonaws.com"}}]}
    return boto3.client("iam", **session).create_role(RoleName="function", AssumeRolePolicyDocument=json.dumps(trust))[
        "Role"]["Arn"]


NODE_PROVIDER = """
const https = require("https");
exports.handler = async (event, context) => {
  const body = JSON.stringify({Status: "SUCCESS", PhysicalResourceId: "answered", StackId: event.StackId,
    RequestId: event.RequestId, LogicalResourceId: event.LogicalResourceId,
    Data: {Name: `${event.RequestType.toLowerCase()}d-${event.ResourceProperties.Input}`}});
  const url = new URL(event.ResponseURL);
  await new Promise((resolve, reject) => {
    const request = https.request({hostname: url.hostname, path: url.pathname, method: "PUT"}, resolve);
    request.on("error", reject); request.write(body); request.end();
  });
};
"""


def test_a_custom_resource_is_answered_by_its_node_provider_before_its_readers_are_created(tmp_path):
    """The provider function CloudFormation would call runs (Node.js, its response sent to the
    pre-signed URL), and the resource reading its attribute gets the answer; an update asks again.
    (moto does not re-create a reader whose template is unchanged when the answer changes.)"""
    import io
    import zipfile

    import boto3
    from moto import mock_aws

    from localcloud import cloudformation, functions

    def invoke(arn, event):
        return functions.invoke_node(functions.deployed(arn, tmp_path / "code"), event, environment=dict(os.environ),
                                     log_dir=tmp_path / "logs").response

    cloudformation.install(invoke)
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("index.js", NODE_PROVIDER)
    with mock_aws():
        session = {"region_name": "us-east-1", "aws_access_key_id": "t", "aws_secret_access_key": "t"}
        provider = boto3.client("lambda", **session).create_function(
            FunctionName="provider", Runtime="nodejs22.x", Handler="index.handler", Code={"ZipFile": code.getvalue()},
            Role=lambda_role(session), MemorySize=256, Timeout=30)["FunctionArn"]
        template = {"Resources": {
            "Lookup": {"Type": "Custom::Lookup", "Properties": {"ServiceToken": provider, "Input": "one"}},
            "Database": {"Type": "AWS::Glue::Database", "Properties": {"DatabaseInput": {
                "Name": {"Fn::GetAtt": ["Lookup", "Name"]}}}}},
            "Outputs": {"Answer": {"Value": {"Fn::GetAtt": ["Lookup", "Name"]}}}}
        cfn = boto3.client("cloudformation", **session)
        cfn.create_change_set(StackName="S", ChangeSetName="c", ChangeSetType="CREATE", TemplateBody=json.dumps(template))
        cfn.execute_change_set(ChangeSetName="c", StackName="S")
        assert cfn.describe_stacks(StackName="S")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
        glue = boto3.client("glue", **session)
        assert [d["Name"] for d in glue.get_databases()["DatabaseList"]] == ["created-one"]
        template["Resources"]["Lookup"]["Properties"]["Input"] = "two"
        cfn.create_change_set(StackName="S", ChangeSetName="c", ChangeSetType="UPDATE", TemplateBody=json.dumps(template))
        cfn.execute_change_set(ChangeSetName="c", StackName="S")
        [answer] = cfn.describe_stacks(StackName="S")["Stacks"][0]["Outputs"]
        assert answer["OutputValue"] == "updated-two"
