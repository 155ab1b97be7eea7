from engagement import stages
from handlers.events import ShardEvent, parse
from handlers.shared import cache_table, client, logger, metrics, stage_environment, tracer

STAGE = stage_environment()  # at cold start: a missing or malformed variable fails the init, named
CACHE = cache_table(STAGE.cache_table)  # one client for the writer threads of every invocation


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event, context):
    request = parse(ShardEvent, event)
    return stages.load_cache(client("s3"), CACHE, STAGE.settings, run_id=request.run_id, shard=request.shard)
