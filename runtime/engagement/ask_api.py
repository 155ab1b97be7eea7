"""`POST /ask`: a question about the published run, answered by the assistant's tool-use loop.

API Gateway checks the body against REQUEST_SCHEMA first; the function checks again and answers
503 before any run has been published (every tool reads the published run). A question already
answered for the published run comes from the answer cache; every reply passes the output check.
"""

from engagement import answer_cache, publish
from engagement.answer_check import redacted
from engagement.assistant import Limits, ModelAccessDenied, ModelFor, Tool, ask
from engagement.layout import Buckets
from engagement.prediction_api import Answer, BadRequest, json_object

MAX_QUESTION_CHARS = 500
MAX_BODY_BYTES = 4 * MAX_QUESTION_CHARS + 64  # the question in the widest UTF-8, and its JSON
REQUEST_SCHEMA = {  # JSON Schema draft 4, as API Gateway models take it
    "type": "object", "required": ["question"], "additionalProperties": False,
    "properties": {"question": {"type": "string", "minLength": 1, "maxLength": MAX_QUESTION_CHARS}},
}


def answer(model_for: ModelFor, tools: list[Tool], s3, buckets: Buckets, answers, *, model_id: str,
           body: str | None, limits: Limits = Limits()) -> Answer:
    """`model_for`: a Bedrock client bounded by the seconds left; `answers`: the answer cache's table."""
    try:
        question = _question(body)
    except BadRequest as error:
        return Answer(400, {"message": str(error)})
    pointer = publish.read_pointer(s3, buckets)
    if pointer is None:
        return Answer(503, {"message": "no run has been published yet: run the pipeline first"})
    key = {"run_id": pointer["run_id"], "question": question, "model_id": model_id}
    reply = answer_cache.cached(answers, **key)
    if reply is not None:
        return Answer(200, {**reply, "cached": True})
    try:
        reply = redacted(ask(model_for, model_id=model_id, question=question, tools=tools, limits=limits).as_dict())
    except ModelAccessDenied as denied:
        return Answer(503, {"message": str(denied)})
    reply = {**reply, "run_id": pointer["run_id"]}
    answer_cache.store(answers, **key, reply=reply)
    return Answer(200, {**reply, "cached": False})


def _question(body: str | None) -> str:
    """The question, normalised once: the text that is answered is the text that is keyed."""
    request = json_object(body, max_bytes=MAX_BODY_BYTES, example='{"question": "..."}')
    question = request.get("question") if set(request) == {"question"} else None
    if len(question if isinstance(question, str) else "") > MAX_QUESTION_CHARS:
        raise BadRequest(f"the question is over {MAX_QUESTION_CHARS} characters")
    normalised = answer_cache.normalised(question) if isinstance(question, str) else ""
    if not normalised:
        raise BadRequest('the body must be a JSON object with one field, "question", a non-empty string')
    return normalised
