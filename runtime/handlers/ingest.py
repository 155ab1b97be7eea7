from aws_lambda_powertools.metrics import MetricUnit

from engagement import stages
from handlers.events import IngestEvent, parse
from handlers.shared import client, logger, metrics, stage_environment, tokenizer, tracer

STAGE = stage_environment()  # at cold start: a missing or malformed variable fails the init, named


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event, context):
    request = parse(IngestEvent, event)
    result = stages.ingest(client("s3"), tokenizer(STAGE.tokenization_secret_arn), STAGE.settings,
                           run_id=request.run_id, source_key=request.source_key, part=request.part)
    metrics.add_metric(name="RowsQuarantined", unit=MetricUnit.Count, value=result["rows_quarantined"])
    return result
