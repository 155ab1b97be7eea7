from engagement import ask_api
from engagement.environment import MODEL_ID, required
from handlers.shared import answer_table, assistant_tools, client, logger, model_client, settings, tracer


@logger.inject_lambda_context  # logs the request id, never the question or the answer
@tracer.capture_lambda_handler
def handler(event, context):
    answer = ask_api.answer(model_client, assistant_tools(), client("s3"), settings().buckets,
                            answer_table(), model_id=required(MODEL_ID), body=event.get("body"))
    return answer.proxy_response()
