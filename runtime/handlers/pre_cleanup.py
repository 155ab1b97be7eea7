from engagement import stages
from handlers.events import StartEvent, parse
from handlers.shared import client, logger, metrics, settings, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event, context):
    request = parse(StartEvent, event)
    return stages.pre_cleanup(client("s3"), client("glue"), settings(), execution_name=request.execution_name,
                              source_key=request.source_key)
