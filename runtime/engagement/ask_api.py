"""`POST /ask`: a question about the published run, answered by the assistant's tool-use loop.

API Gateway checks the body against REQUEST_SCHEMA first; the function checks again and answers
503 before any run has been published (every tool reads the published run).
"""

import json

from engagement import publish
from engagement.assistant import Limits, Tool, ask
from engagement.layout import Buckets
from engagement.prediction_api import Answer

MAX_QUESTION_CHARS = 500
REQUEST_SCHEMA = {  # JSON Schema draft 4, as API Gateway models take it
    "type": "object", "required": ["question"], "additionalProperties": False,
    "properties": {"question": {"type": "string", "minLength": 1, "maxLength": MAX_QUESTION_CHARS}},
}


def answer(bedrock, tools: list[Tool], s3, buckets: Buckets, *, model_id: str, body: str | None,
           limits: Limits = Limits()) -> Answer:
    try:
        question = _question(body)
    except ValueError as error:
        return Answer(400, {"message": str(error)})
    if publish.read_pointer(s3, buckets) is None:
        return Answer(503, {"message": "no run has been published yet: run the pipeline first"})
    return Answer(200, ask(bedrock, model_id=model_id, question=question, tools=tools, limits=limits).as_dict())


def _question(body: str | None) -> str:
    try:
        request = json.loads(body or "")
    except ValueError:
        raise ValueError('the body must be a JSON object: {"question": "..."}') from None
    question = request.get("question") if isinstance(request, dict) and set(request) == {"question"} else None
    if not isinstance(question, str) or not question.strip():
        raise ValueError('the body must be a JSON object with one field, "question", a non-empty string')
    if len(question) > MAX_QUESTION_CHARS:
        raise ValueError(f"the question is over {MAX_QUESTION_CHARS} characters")
    return question.strip()
