from engagement import stages
from handlers.events import BadEvent, MergeShardsEvent, parse
from handlers.shared import client, logger, metrics, settings, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event, context):
    request = parse(MergeShardsEvent, event)
    if request.stage == "Inference":
        return stages.merge_inference(client("s3"), settings(), run_id=request.run_id, results=request.results)
    if request.stage == "CacheLoad":
        return stages.check_cache_load(results=request.results, rows_scored=request.rows_scored)
    raise BadEvent(f"MergeShardsEvent.stage: expected Inference or CacheLoad, got {request.stage!r}")
