from engagement import stages
from handlers.events import StartEvent, parse
from handlers.shared import client, ledger, logger, metrics, stage_environment, tracer

STAGE = stage_environment()  # at cold start: a missing or malformed variable fails the init, named


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event, context):
    request = parse(StartEvent, event)
    return stages.claim_run(client("s3"), client("glue"), ledger(STAGE.ledger_table), STAGE.settings,
                            execution_name=request.execution_name, execution=request.execution,
                            source_key=request.source_key)
