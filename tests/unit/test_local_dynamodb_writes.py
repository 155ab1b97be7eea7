"""The local cloud's BatchWriteItem fast path stores what moto would, and leaves every refusal to moto."""

import json
import socket

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from localcloud import dynamodb_writes

KEYS = [{"AttributeName": "customer_id", "KeyType": "HASH"}, {"AttributeName": "run_id", "KeyType": "RANGE"}]
ATTRIBUTES = [{"AttributeName": name, "AttributeType": "S"} for name in ("customer_id", "run_id")]


@pytest.fixture(scope="module")
def dynamodb():
    dynamodb_writes.install()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    client = boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{port}", region_name="eu-west-1",
                          aws_access_key_id="local", aws_secret_access_key="local")
    client.create_table(TableName="cache", KeySchema=KEYS, AttributeDefinitions=ATTRIBUTES,
                        BillingMode="PAY_PER_REQUEST")
    yield client
    server.stop()


def put(customer: str, **attributes) -> dict:
    return {"PutRequest": {"Item": {"customer_id": {"S": customer}, "run_id": {"S": "r1"}, **attributes}}}


def test_puts_are_stored_as_moto_stores_them(dynamodb, monkeypatch):
    decided = []
    stored = dynamodb_writes.stored
    monkeypatch.setattr(dynamodb_writes, "stored", lambda *args: decided.append(stored(*args)) or decided[-1])
    answer = dynamodb.batch_write_item(RequestItems={"cache": [put(f"C-{i}", n={"N": str(i)}) for i in range(25)]})
    assert answer["UnprocessedItems"] == {}
    item = dynamodb.get_item(TableName="cache", Key={"customer_id": {"S": "C-7"}, "run_id": {"S": "r1"}})["Item"]
    assert item["n"] == {"N": "7"} and decided == [True], "the fast path stored the puts"
    assert dynamodb.scan(TableName="cache", Select="COUNT")["Count"] >= 25


def test_puts_land_in_the_account_moto_serves(dynamodb, monkeypatch):
    """MOTO_ACCOUNT_ID (which the local cloud sets) decides the account before the access key."""
    monkeypatch.setenv("MOTO_ACCOUNT_ID", "000000000000")
    dynamodb.create_table(TableName="elsewhere", KeySchema=KEYS, AttributeDefinitions=ATTRIBUTES,
                          BillingMode="PAY_PER_REQUEST")
    assert dynamodb_writes.stored(b'{"RequestItems": {"elsewhere": [%s]}}' % json.dumps(put("H-1")).encode(),
                                  "AWS4-HMAC-SHA256 Credential=local/20261122/eu-west-1/dynamodb/aws4_request")
    assert "Item" in dynamodb.get_item(TableName="elsewhere", Key={"customer_id": {"S": "H-1"}, "run_id": {"S": "r1"}})


@pytest.mark.parametrize(("writes", "message"), [
    ([put("D-1"), put("D-1")], "duplicates"),
    ([put("")], "empty string"),
    ([put("E-1", blob={"S": "x" * 410_000})], "size"),
])
def test_refusals_are_moto_s_answers(dynamodb, writes, message):
    with pytest.raises(ClientError, match=message) as refused:
        dynamodb.batch_write_item(RequestItems={"cache": writes})
    assert refused.value.response["Error"]["Code"] == "ValidationException"


def test_an_unknown_table_and_deletes_go_to_moto(dynamodb):
    with pytest.raises(dynamodb.exceptions.ResourceNotFoundException):
        dynamodb.batch_write_item(RequestItems={"nowhere": [put("F-1")]})
    dynamodb.batch_write_item(RequestItems={"cache": [put("G-1")]})
    dynamodb.batch_write_item(RequestItems={"cache": [
        {"DeleteRequest": {"Key": {"customer_id": {"S": "G-1"}, "run_id": {"S": "r1"}}}}]})
    assert "Item" not in dynamodb.get_item(TableName="cache", Key={"customer_id": {"S": "G-1"}, "run_id": {"S": "r1"}})


def test_an_item_is_measured_as_moto_measures_it():
    """One measurement of the finished item: the same limit as moto's attribute-by-attribute check."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    dynamodb_writes.install()
    key = DynamoType({"S": "k"})
    Item(key, None, {"a": {"S": "x" * 200_000}, "b": {"S": "x" * 200_000}})
    with pytest.raises(ItemSizeTooLarge):
        Item(key, None, {"a": {"S": "x" * 200_000}, "b": {"S": "x" * 200_000}, "c": {"S": "x" * 10_000}})
