"""`POST /predict`: one customer's model outputs and reasons, from the published run's cache.

API Gateway validates the body against the same rules before the function runs (the model in
`constructs/prediction_api.py` is built from REQUEST_SCHEMA); checking again here keeps the
function safe to invoke directly and gives every refusal its reason.
"""

import json
import re
from dataclasses import dataclass

from engagement.cache import PublishedRunMissing, published_prediction
from engagement.layout import Buckets
from engagement.schema import ID_COLUMN, ID_PATTERN

MAX_BODY_BYTES = 1_024
REQUEST_SCHEMA = {  # JSON Schema draft 4, as API Gateway models take it
    "type": "object", "required": [ID_COLUMN], "additionalProperties": False,
    "properties": {ID_COLUMN: {"type": "string", "pattern": ID_PATTERN}},
}


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict

    def proxy_response(self) -> dict:
        """The answer as a Lambda proxy integration returns it."""
        return {"statusCode": self.status, "headers": {"Content-Type": "application/json"},
                "body": json.dumps(self.body, separators=(",", ":"))}


class BadRequest(ValueError):
    pass


def predict(s3, table, buckets: Buckets, body: str | None) -> Answer:
    try:
        customer_id = requested_customer(body)
    except BadRequest as error:
        return Answer(400, {"message": str(error)})
    try:
        prediction = published_prediction(s3, table, buckets, customer_id)
    except PublishedRunMissing as error:
        return Answer(503, {"message": f"{error}: run the pipeline first"})
    if prediction is None:
        return Answer(404, {"message": f"{ID_COLUMN} {customer_id!r} is not in the published run"})
    return Answer(200, prediction)


def requested_customer(body: str | None) -> str:
    """The customer id a request body names, or BadRequest saying what is wrong with it."""
    request = json_object(body, max_bytes=MAX_BODY_BYTES, example=f'{{"{ID_COLUMN}": "..."}}')
    if set(request) != {ID_COLUMN}:
        raise BadRequest(f'the body must be a JSON object with one field, "{ID_COLUMN}"')
    return checked_customer_id(request[ID_COLUMN])


def json_object(body: str | None, *, max_bytes: int, example: str) -> dict:
    """The JSON object a request body holds, or BadRequest: checked before parsing for size, and
    any body the parser cannot take (malformed, or nested deeper than it recurses) is refused."""
    if not body:
        raise BadRequest(f"the body must be a JSON object: {example}")
    if len(body.encode()) > max_bytes:
        raise BadRequest(f"the body is over {max_bytes:,} bytes")
    try:
        request = json.loads(body)
    except (ValueError, RecursionError):
        raise BadRequest(f"the body is not valid JSON (or is nested too deeply): {example}") from None
    if not isinstance(request, dict):
        raise BadRequest(f"the body must be a JSON object: {example}")
    return request


def checked_customer_id(value) -> str:
    """`value` if it is a well-formed customer id, else BadRequest saying what an id looks like."""
    if not isinstance(value, str) or not re.fullmatch(ID_PATTERN, value):
        raise BadRequest(f"{ID_COLUMN}: expected 1-64 letters, digits, '-' or '_', got {value!r}"[:200])
    return value
