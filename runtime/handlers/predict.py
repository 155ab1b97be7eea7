from engagement import prediction_api
from handlers.shared import client, logger, prediction_table, settings, tracer


@logger.inject_lambda_context  # logs the request id, never the event: its body names a customer
@tracer.capture_lambda_handler
def handler(event, context):
    answer = prediction_api.predict(client("s3"), prediction_table(), settings().buckets, event.get("body"))
    return answer.proxy_response()
