from engagement import stages
from handlers.events import IngestPlanEvent, parse
from handlers.shared import client, logger, metrics, stage_environment, tracer

STAGE = stage_environment()  # at cold start: a missing or malformed variable fails the init, named


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event, context):
    request = parse(IngestPlanEvent, event)
    return stages.plan_ingest(client("s3"), STAGE.settings, run_id=request.run_id,
                              source_key=request.source_key)
