from engagement import environment as env
from engagement import prediction_api
from handlers.shared import buckets, client, logger, table, tracer

# At cold start: a missing variable fails the init, named.
BUCKETS, CACHE = buckets(), table(env.required(env.CACHE_TABLE))


@logger.inject_lambda_context  # logs the request id, never the event: its body names a customer
@tracer.capture_lambda_handler
def handler(event, context):
    answer = prediction_api.predict(client("s3"), CACHE, BUCKETS, event.get("body"))
    return answer.proxy_response()
