"""API Gateway's routing, permission and proxy rules as the local cloud applies them (no server)."""

import base64

import pytest

from localcloud.rest_apis import Refused, Request, allowed_by_policy, matching_resource, proxy_answer, proxy_event

PATHS = ["/", "/items", "/items/{id}", "/items/latest", "/files/{proxy+}"]


@pytest.mark.parametrize(("path", "expected"), [
    ("/", ("/", {})),
    ("/items", ("/items", {})),
    ("/items/", ("/items", {})),
    ("/items/latest", ("/items/latest", {})),  # a literal segment wins over {id}
    ("/items/7", ("/items/{id}", {"id": "7"})),
    ("/files/a/b.txt", ("/files/{proxy+}", {"proxy": "a/b.txt"})),
    ("/files", None),  # a greedy parameter needs at least one segment
    ("/items/7/more", None),
    ("/other", None),
])
def test_the_most_specific_resource_serves_a_path(path, expected):
    assert matching_resource(PATHS, path) == expected


def grant(source_arn: str, **changes) -> dict:
    return {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Principal": {"Service": "apigateway.amazonaws.com"},
            "Condition": {"ArnLike": {"AWS:SourceArn": source_arn}}, **changes}


ARN = "arn:aws:execute-api:us-east-1:000000000000:abc123/prod/GET/items/7"


def test_a_grant_must_name_api_gateway_and_match_the_route():
    assert allowed_by_policy([grant("arn:aws:execute-api:us-east-1:000000000000:abc123/prod/GET/items/*")], ARN)
    assert allowed_by_policy([grant("arn:aws:execute-api:us-east-1:000000000000:abc123/*/*/*")], ARN)
    assert not allowed_by_policy([grant("arn:aws:execute-api:us-east-1:000000000000:abc123/prod/POST/items/*")], ARN)
    assert not allowed_by_policy([grant(ARN, Principal={"Service": "events.amazonaws.com"})], ARN)
    assert not allowed_by_policy([grant(ARN, Effect="Deny")], ARN)
    assert not allowed_by_policy([], ARN)


def request(**changes) -> Request:
    fields = dict(method="POST", path="/items/7", query="a=1&a=2&b=", headers={"User-Agent": "t"}, body=b'{"x": 1}',
                  source_ip="127.0.0.1")
    return Request(**{**fields, **changes})


def test_the_proxy_event_carries_the_route_the_query_and_the_body():
    event = proxy_event(request(), api_id="abc123", stage="prod", account="000000000000", resource="/items/{id}",
                        parameters={"id": "7"}, stage_variables={})
    assert event["resource"] == "/items/{id}" and event["path"] == "/items/7" and event["httpMethod"] == "POST"
    assert event["pathParameters"] == {"id": "7"} and event["stageVariables"] is None
    assert event["queryStringParameters"] == {"a": "2", "b": ""}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": [""]}
    assert event["body"] == '{"x": 1}' and event["isBase64Encoded"] is False
    assert event["requestContext"]["path"] == "/prod/items/7" and event["requestContext"]["apiId"] == "abc123"


def test_a_binary_body_arrives_base64_encoded():
    event = proxy_event(request(body=b"\xff\x00"), api_id="a", stage="s", account="1", resource="/", parameters={},
                        stage_variables={})
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == b"\xff\x00"


def test_a_proxy_answer_maps_status_headers_and_body():
    answer = proxy_answer({"statusCode": 201, "headers": {"X-One": 1}, "multiValueHeaders": {"X-Two": ["a", "b"]},
                           "body": base64.b64encode(b"\x01").decode(), "isBase64Encoded": True})
    assert answer.status == 201 and answer.body == b"\x01"
    assert answer.headers["X-One"] == "1" and answer.headers["X-Two"] == "a,b"


@pytest.mark.parametrize("result", [None, "text", {"statusCode": "200"}, {"statusCode": 200, "body": {"a": 1}}])
def test_a_malformed_proxy_answer_is_a_502(result):
    with pytest.raises(Refused) as refused:
        proxy_answer(result)
    assert refused.value.answer.status == 502 and "Malformed Lambda proxy response" in str(refused.value)


def test_a_validated_body_must_match_the_model_for_its_content_type():
    from types import SimpleNamespace

    from localcloud.rest_apis import RestApis

    schema = ('{"type": "object", "required": ["id"], "additionalProperties": false,'
              ' "properties": {"id": {"type": "string", "pattern": "^[a-z]+$"}}}')
    api = SimpleNamespace(request_validators={"v1": SimpleNamespace(validate_request_body=True)},
                          models={"Item": SimpleNamespace(schema=schema)})
    method = SimpleNamespace(request_validator_id="v1", request_models={"application/json": "Item"})

    def request(body: bytes, content_type: str = "application/json") -> Request:
        return Request("POST", "/items", "", {"Content-Type": content_type}, body, "127.0.0.1")

    RestApis._validate_body(api, method, request(b'{"id": "abc"}'))
    for body in (b'{"id": "ABC"}', b'{"id": "abc", "more": 1}', b"{}", b"not json", b""):
        with pytest.raises(Refused) as refused:
            RestApis._validate_body(api, method, request(body))
        assert refused.value.answer.status == 400 and b"Invalid request body" in refused.value.answer.body
    RestApis._validate_body(api, method, request(b"anything", "text/plain"))  # no model for that type
    unchecked = SimpleNamespace(request_validator_id=None, request_models={"application/json": "Item"})
    RestApis._validate_body(api, unchecked, request(b"not json"))
    deep = b'{"id": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    for body, content_type in ((b"not json", "text/plain"), (deep, "application/json")):
        with pytest.raises(Refused) as refused:  # the $default model checks every content type
            RestApis._validate_body(api, SimpleNamespace(request_validator_id="v1", request_models={"$default": "Item"}),
                                    request(body, content_type))
        assert refused.value.answer.status == 400


def raw(port: int, head: str, body: bytes = b"") -> bytes:
    """What the server sends back to a request written byte for byte (as no client library would)."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(head.encode() + b"\r\n\r\n" + body)
        received = b""
        while chunk := connection.recv(65_536):  # the server closes the connection after its answer
            received += chunk
        return received


@pytest.fixture()
def served(tmp_path):
    from localcloud.rest_apis import RestApis

    apis = RestApis(account="000000000000", region="us-east-1", invoke=lambda *args: None, log_dir=tmp_path)
    port = int(apis.start().rsplit(":", 1)[1])
    yield apis, port
    apis.stop()


@pytest.mark.parametrize(("length", "status"), [("abc", b"400"), ("-1", b"400"), ("1e3", b"400"),
                                                (str(20 * 1024 * 1024), b"413")])
def test_a_malformed_or_oversized_request_is_answered_not_dropped(served, length, status):
    _, port = served
    answer = raw(port, f"POST /abc123/prod/ask HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {length}")
    assert answer.split(b"\r\n")[0].split(b" ")[1] == status, answer
    assert answer.split(b"\r\n\r\n", 1)[1].startswith(b'{"message": ')


def test_a_fault_of_the_local_cloud_is_a_500_with_a_logged_reason(served, monkeypatch):
    apis, port = served

    def broken(*args):
        raise KeyError("no such backend")

    monkeypatch.setattr(apis, "_route", broken)
    answer = raw(port, "POST /abc123/prod/ask HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2", b"{}")
    assert answer.startswith(b"HTTP/1.0 500") and b"Internal server error" in answer
    assert "the local cloud failed: KeyError" in next(apis.log_dir.glob("apigateway-*.log")).read_text()
