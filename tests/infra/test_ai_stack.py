"""The AI stack's API: every method signed, every body validated, throttled, logged without bodies."""

import json

import pytest
from aws_cdk.assertions import Match

from engagement.ask_api import MAX_QUESTION_CHARS
from engagement.prediction_api import REQUEST_SCHEMA
from tests.infra.test_pipeline_stack import statements_of


@pytest.fixture(scope="module")
def ai(synthesized):
    return synthesized.templates[synthesized.platform.ai.stack_name]


def test_every_method_requires_iam_authorization(ai):
    methods = ai.find_resources("AWS::ApiGateway::Method")
    assert methods and {m["Properties"]["AuthorizationType"] for m in methods.values()} == {"AWS_IAM"}


def test_bodies_are_validated_against_each_routes_request_schema_before_the_function_runs(ai):
    [validator] = ai.find_resources("AWS::ApiGateway::RequestValidator").values()
    assert validator["Properties"]["ValidateRequestBody"] is True
    models = {m["Properties"]["Name"]: m["Properties"]["Schema"]
              for m in ai.find_resources("AWS::ApiGateway::Model").values()}
    predict, question = models["PredictRequest"], models["AskRequest"]
    assert predict["required"] == REQUEST_SCHEMA["required"] and predict["additionalProperties"] is False
    assert predict["properties"]["customer_id"]["pattern"] == REQUEST_SCHEMA["properties"]["customer_id"]["pattern"]
    assert question["properties"]["question"] == {"type": "string", "minLength": 1, "maxLength": MAX_QUESTION_CHARS}
    methods = ai.find_resources("AWS::ApiGateway::Method", {"Properties": {
        "HttpMethod": "POST", "RequestValidatorId": Match.any_value(),
        "RequestModels": {"$default": Match.any_value()},
        "Integration": Match.object_like({"Type": "AWS_PROXY"})}})
    assert len(methods) == 2


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


def test_the_assistant_may_invoke_only_its_model_and_query_only_in_its_workgroup(ai):
    statements = statements_of(ai, "/AskFunction/")
    bedrock = [s for s in statements if "bedrock:InvokeModel" in json.dumps(s["Action"])]
    assert [s["Action"] for s in bedrock] == ["bedrock:InvokeModel"]
    resources = json.dumps(bedrock[0]["Resource"])
    assert "inference-profile/us.anthropic.claude-sonnet" in resources
    # The profile routes to regions AWS chooses: the model is scoped by name in any region.
    assert ":bedrock:*::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0" in resources
    assert not [r for r in ("us-east-1", "us-east-2", "us-west-2") if f"bedrock:{r}::" in resources]
    # Model access (the Marketplace subscription) is a one-time account step, not the function's right.
    assert "aws-marketplace" not in json.dumps(statements)
    assert '"*"' not in resources and all("bedrock:*" not in json.dumps(s["Action"]) for s in statements)
    athena = [s for s in statements if "athena:StartQueryExecution" in json.dumps(s["Action"])]
    assert len(athena) == 1 and "workgroup/" in json.dumps(athena[0]["Resource"])
    # its own workgroup (not the pipeline's), with a tighter scan cutoff; queries run there
    [(workgroup_id, workgroup)] = ai.find_resources("AWS::Athena::WorkGroup").items()
    assert workgroup["Properties"]["WorkGroupConfiguration"]["BytesScannedCutoffPerQuery"] == 1024**3
    assert workgroup_id in json.dumps(athena[0]["Resource"]) and "WorkgroupName" not in json.dumps(athena[0])
    [ask] = [f for f in ai.find_resources("AWS::Lambda::Function").values()
             if f["Properties"].get("Handler") == "handlers.ask.handler"]
    assert ask["Properties"]["Environment"]["Variables"]["ATHENA_WORKGROUP"] == {"Ref": workgroup_id}
    everything = json.dumps(statements)
    assert "secretsmanager" not in everything and "customers_bronze" not in everything
    retrieve = [s for s in statements if s["Action"] == "bedrock:Retrieve"]
    assert len(retrieve) == 1 and "KnowledgeBase" in json.dumps(retrieve[0]["Resource"])
    [answers] = [s for s in statements if "dynamodb:PutItem" in json.dumps(s["Action"])]
    assert answers["Action"] == ["dynamodb:GetItem", "dynamodb:PutItem"]
    assert "AnswerCache" in json.dumps(answers["Resource"]) and "CacheTableArn" not in json.dumps(answers["Resource"])


def test_the_knowledge_base_stores_titan_v2_vectors_in_an_encrypted_s3_vectors_index(ai):
    [kb] = ai.find_resources("AWS::Bedrock::KnowledgeBase").values()
    storage = kb["Properties"]["StorageConfiguration"]
    assert storage["Type"] == "S3_VECTORS" and set(storage["S3VectorsConfiguration"]) == {"IndexArn", "VectorBucketArn"}
    vectors = kb["Properties"]["KnowledgeBaseConfiguration"]["VectorKnowledgeBaseConfiguration"]
    assert "foundation-model/amazon.titan-embed-text-v2:0" in json.dumps(vectors["EmbeddingModelArn"])
    [index] = ai.find_resources("AWS::S3Vectors::Index").values()
    assert index["Properties"]["Dimension"] == 1024 and index["Properties"]["DistanceMetric"] == "cosine"
    [bucket] = ai.find_resources("AWS::S3Vectors::VectorBucket").values()
    assert bucket["Properties"]["EncryptionConfiguration"]["SseType"] == "aws:kms"
    [source] = ai.find_resources("AWS::Bedrock::DataSource").values()
    assert source["Properties"]["DataSourceConfiguration"]["S3Configuration"]["InclusionPrefixes"] == ["runs/"]


def test_bedrock_reads_only_the_run_documents_and_writes_only_its_index(ai):
    statements = statements_of(ai, "/KnowledgeBase/ServiceRole/")
    actions = {action for s in statements for action in (s["Action"] if isinstance(s["Action"], list)
                                                         else [s["Action"]])}
    assert actions == {"bedrock:InvokeModel", "s3:GetObject", "s3:ListBucket", "s3vectors:PutVectors",
                       "s3vectors:GetVectors", "s3vectors:DeleteVectors", "s3vectors:QueryVectors",
                       "s3vectors:GetIndex", "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"}
    [invoke] = [s for s in statements if s["Action"] == "bedrock:InvokeModel"]
    assert "amazon.titan-embed-text-v2:0" in json.dumps(invoke["Resource"])
    assert all(s["Resource"] != "*" for s in statements)
