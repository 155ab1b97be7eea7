from engagement import ask_api
from handlers.shared import ask_environment, assistant_tools, client, logger, model_client, table, tracer

ASK = ask_environment()  # at cold start: a missing variable fails the init, named
TOOLS, ANSWERS = assistant_tools(ASK), table(ASK.answer_cache_table)


@logger.inject_lambda_context  # logs the request id, never the question or the answer
@tracer.capture_lambda_handler
def handler(event, context):
    answer = ask_api.answer(model_client, TOOLS, client("s3"), ASK.buckets, ANSWERS, model_id=ASK.model_id,
                            body=event.get("body"))
    return answer.proxy_response()
