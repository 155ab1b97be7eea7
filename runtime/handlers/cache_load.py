from engagement import stages
from handlers.events import ShardEvent, parse
from handlers.shared import cache_table, client, logger, metrics, settings, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event, context):
    request = parse(ShardEvent, event)
    return stages.load_cache(client("s3"), cache_table(), settings(), run_id=request.run_id, shard=request.shard)
