from aws_lambda_powertools.metrics import MetricUnit

from engagement import stages
from handlers.events import IngestEvent, parse
from handlers.shared import client, logger, metrics, settings, tokenizer, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event, context):
    request = parse(IngestEvent, event)
    result = stages.ingest(client("s3"), tokenizer(), settings(), run_id=request.run_id, source_key=request.source_key,
                           part=request.part)
    metrics.add_metric(name="RowsQuarantined", unit=MetricUnit.Count, value=result["rows_quarantined"])
    return result
