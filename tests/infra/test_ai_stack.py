"""The AI stack's API: every method signed, every body validated, throttled, logged without bodies."""

import json

import pytest
from aws_cdk.assertions import Match

from engagement.prediction_api import REQUEST_SCHEMA
from tests.infra.test_pipeline_stack import statements_of


@pytest.fixture(scope="module")
def ai(synthesized):
    return synthesized.templates[synthesized.platform.ai.stack_name]


def test_every_method_requires_iam_authorization(ai):
    methods = ai.find_resources("AWS::ApiGateway::Method")
    assert methods and {m["Properties"]["AuthorizationType"] for m in methods.values()} == {"AWS_IAM"}


def test_predict_bodies_are_validated_against_the_request_schema_before_the_function_runs(ai):
    [validator] = ai.find_resources("AWS::ApiGateway::RequestValidator").values()
    assert validator["Properties"]["ValidateRequestBody"] is True
    [model] = ai.find_resources("AWS::ApiGateway::Model").values()
    schema = model["Properties"]["Schema"]
    assert schema["required"] == REQUEST_SCHEMA["required"] and schema["additionalProperties"] is False
    assert schema["properties"]["customer_id"]["pattern"] == REQUEST_SCHEMA["properties"]["customer_id"]["pattern"]
    ai.has_resource_properties("AWS::ApiGateway::Method", {
        "HttpMethod": "POST", "RequestValidatorId": Match.any_value(),
        "RequestModels": {"application/json": Match.any_value()},
        "Integration": Match.object_like({"Type": "AWS_PROXY"})})


def test_the_stage_is_throttled_traced_and_access_logged_without_bodies_or_source_ip(ai):
    [stage] = ai.find_resources("AWS::ApiGateway::Stage").values()
    properties = stage["Properties"]
    [settings] = properties["MethodSettings"]
    assert settings["ThrottlingRateLimit"] > 0 and settings["ThrottlingBurstLimit"] > 0
    assert settings["DataTraceEnabled"] is False and properties["TracingEnabled"] is True
    access_format = json.loads(properties["AccessLogSetting"]["Format"])
    assert "ip" not in access_format and "status" in access_format and "caller" in access_format
    ai.has_resource_properties("AWS::Logs::LogGroup", {"KmsKeyId": Match.any_value(), "RetentionInDays": 365})


def test_predict_reads_only_the_cache_item_and_the_published_pointer(ai):
    statements = statements_of(ai, "/PredictFunction/")
    actions = sorted(action for statement in statements for action in
                     (statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
                     if not action.startswith(("xray:", "kms:")))
    assert actions == ["dynamodb:GetItem", "s3:GetObject", "s3:ListBucket"]
    [dynamodb] = [s for s in statements if s["Action"] == "dynamodb:GetItem"]
    assert "CacheTableArn" in json.dumps(dynamodb["Resource"])
