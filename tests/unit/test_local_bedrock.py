"""Bedrock's Converse on the local endpoint: a boto3 bedrock-runtime client reaches the stand-in."""

import boto3
import pytest
from moto.server import ThreadedMotoServer

from localcloud import bedrock_runtime


@pytest.fixture(scope="module")
def endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{server._server.server_port}"
    server.stop()
    bedrock_runtime.install(None)


def client(endpoint: str):
    return boto3.client("bedrock-runtime", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="local", aws_secret_access_key="local")


def echo(request: dict) -> dict:
    question = request["messages"][0]["content"][0]["text"]
    return {"output": {"message": {"role": "assistant", "content": [{"text": f"{request['modelId']}: {question}"}]}},
            "stopReason": "end_turn", "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
            "metrics": {"latencyMs": 1}}


def test_converse_is_answered_by_the_stand_in_the_cloud_was_given(endpoint):
    bedrock_runtime.install(echo)
    answer = client(endpoint).converse(modelId="us.anthropic.claude-sonnet-4-5-v1:0",
                                       messages=[{"role": "user", "content": [{"text": "hello"}]}])
    assert answer["output"]["message"]["content"][0]["text"] == "us.anthropic.claude-sonnet-4-5-v1:0: hello"
    assert answer["stopReason"] == "end_turn"
    assert boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="local",
                        aws_secret_access_key="local").list_buckets()["Buckets"] == []  # the rest is moto's


def test_without_a_stand_in_converse_says_how_to_give_one(endpoint):
    bedrock_runtime.install(None)
    converse = client(endpoint)
    with pytest.raises(converse.exceptions.ValidationException, match="start it with --converse MODULE:FUNCTION"):
        converse.converse(modelId="m", messages=[{"role": "user", "content": [{"text": "hello"}]}])


def test_a_stand_in_is_named_module_colon_function():
    assert bedrock_runtime.load("planner:converse").__name__ == "converse"
    for bad, reason in (("planner", "MODULE:FUNCTION"), ("planner:nothing", "has no attribute"),
                        ("no_such_module:f", "No module named")):
        with pytest.raises(ValueError, match=reason):
            bedrock_runtime.load(bad)
