from engagement import stages
from handlers.events import MergeShardsEvent, parse
from handlers.shared import client, logger, metrics, stage_environment, tracer

STAGE = stage_environment()  # at cold start: a missing or malformed variable fails the init, named


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event, context):
    request = parse(MergeShardsEvent, event)
    return stages.merge_shards(client("s3"), STAGE.settings, stage=request.stage, run_id=request.run_id,
                               results=request.results, rows_scored=request.rows_scored)
