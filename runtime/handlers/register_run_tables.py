from engagement import stages
from handlers.events import RegisterEvent, parse
from handlers.shared import client, logger, metrics, settings, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event, context):
    request = parse(RegisterEvent, event)
    return stages.register_run_tables(client("glue"), settings(), run_id=request.run_id, outputs=request.outputs)
