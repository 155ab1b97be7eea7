from engagement import stages
from handlers.events import RunEvent, parse
from handlers.shared import client, knowledge_base_index, logger, metrics, settings, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event, context):
    request = parse(RunEvent, event)
    return stages.write_knowledge_base(client("s3"), client("bedrock-agent"), settings(), run_id=request.run_id,
                                       index=knowledge_base_index())
