"""DynamoDB's BatchWriteItem on the local cloud, at the rate a pipeline writes.

moto routes every request through Flask and parses it field by field against botocore's service
model: about 2,000 items a second, where a run writes one item per customer. Here a plain
request of puts (the common case) is parsed with `json` and each item stored through moto's own
`put_item`, so its checks of keys, types and item size still apply. Anything else — deletes, more
than 25 requests, duplicate keys, consumed-capacity or metrics options, an unknown table, a
malformed body, or an item moto refuses — goes to moto unchanged and is answered as moto answers
it (re-putting an item is idempotent, so a refusal part-way leaves what moto alone would leave).
"""

import io
import json
import os
import re
import uuid

from moto.moto_server.werkzeug_app import DomainDispatcherApplication

TARGET = "DynamoDB_20120810.BatchWriteItem"
MAX_REQUESTS = 25
MOTO_ITEM_LIMIT = 405_000  # moto's LimitedSizeDict: DynamoDB's 400 KB, as measured by moto
SCOPE = re.compile(r"Credential=([^/]+)/\d{8}/([^/]+)/dynamodb/aws4_request")


def install() -> None:
    """Put the fast path in front of moto's server application (once per process)."""
    if getattr(DomainDispatcherApplication.__call__, "local", False):
        return
    _items_measured_once()
    moto_call = DomainDispatcherApplication.__call__

    def call(self, environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET") != TARGET:
            return moto_call(self, environ, start_response)
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        if stored(body, environ.get("HTTP_AUTHORIZATION", ""), environ.get("HTTP_X_MOTO_ACCOUNT_ID")):
            answer = b'{"UnprocessedItems": {}}'
            start_response("200 OK", [("Content-Type", "application/x-amz-json-1.0"),
                                      ("Content-Length", str(len(answer))), ("x-amzn-RequestId", str(uuid.uuid4()))])
            return [answer]
        environ["wsgi.input"] = io.BytesIO(body)
        return moto_call(self, environ, start_response)

    call.local = True
    DomainDispatcherApplication.__call__ = call


def _items_measured_once() -> None:
    """moto re-measures the whole item as each attribute is added to it (quadratic in the
    attributes, half of every put's time); measuring the finished item once refuses exactly the
    same items, since sizes only add up."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    def __init__(self, hash_key, range_key, attrs) -> None:
        self.hash_key, self.range_key = hash_key, range_key
        values = {key: DynamoType(value) for key, value in attrs.items()}
        if sum(bytesize(key) + value.size() for key, value in values.items()) > MOTO_ITEM_LIMIT:
            raise ItemSizeTooLarge
        self.attrs = LimitedSizeDict()
        dict.update(self.attrs, values)  # later changes go through LimitedSizeDict's own check

    Item.__init__ = __init__


def stored(body: bytes, authorization: str, account_header: str | None = None) -> bool:
    """Store a plain BatchWriteItem of puts; False (nothing decided) for anything moto should answer."""
    from moto.dynamodb.models import dynamodb_backends

    puts = _plain_puts(body)
    scope = SCOPE.search(authorization)
    if puts is None or scope is None:
        return False
    backend = dynamodb_backends[_account(scope[1], account_header)][scope[2]]
    tables = {name: backend.tables.get(name) for name, _ in puts}
    if None in tables.values() or not _distinct_keys(puts, tables):
        return False
    try:
        for name, item in puts:
            backend.put_item(name, item)
    except Exception:  # moto's refusal, which moto's own path will now answer properly
        return False
    return True


def _account(access_key: str, account_header: str | None) -> str:
    """The account a request acts in, decided as moto decides it (BaseResponse.get_current_account)."""
    from moto.iam.models import get_account_id_from

    return os.environ.get("MOTO_ACCOUNT_ID") or account_header or get_account_id_from(access_key)


def _plain_puts(body: bytes) -> list[tuple[str, dict]] | None:
    try:
        request = json.loads(body)
    except ValueError:
        return None
    writes_by_table = request.get("RequestItems") if isinstance(request, dict) and set(request) == {"RequestItems"} else None
    if not isinstance(writes_by_table, dict):
        return None
    puts = []
    for name, writes in writes_by_table.items():
        for write in writes if isinstance(writes, list) else [None]:
            item = write.get("PutRequest", {}).get("Item") if isinstance(write, dict) and len(write) == 1 else None
            if not isinstance(item, dict):
                return None
            puts.append((name, item))
    return puts if 0 < len(puts) <= MAX_REQUESTS else None


def _distinct_keys(puts: list[tuple[str, dict]], tables: dict) -> bool:
    """No two puts for one key (DynamoDB refuses the request), and every key attribute present."""
    keys = set()
    for name, item in puts:
        table = tables[name]
        key_names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
        if any(not isinstance(item.get(key), dict) or not any(item[key].values()) for key in key_names):
            return False  # a missing or empty key: moto's own answer is the error DynamoDB gives
        keys.add((name, *(json.dumps(item[key], sort_keys=True) for key in key_names)))
    return len(keys) == len(puts)
