from engagement import stages
from handlers.events import StartEvent, parse
from handlers.shared import client, ledger, logger, metrics, settings, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event, context):
    request = parse(StartEvent, event)
    return stages.claim_run(client("s3"), client("glue"), ledger(), settings(),
                            execution_name=request.execution_name, execution=request.execution,
                            source_key=request.source_key)
