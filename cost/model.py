"""Cost lines: each priced resource type's rule, from the inventory, one run's usage and the prices.

A line is fixed (per month, whatever runs) or per run; each names its formula with the price, so
the arithmetic can be checked by hand. Per-use lines (the API) are priced per 1,000 requests.
"""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cost.inventory import Inventory, Resource
from cost.usage import ASSUMPTIONS, Usage

HOURS_PER_MONTH = 730
GB = 1024**3
PRICES = Path(__file__).parent / "prices"


class Unpriced(ValueError):
    """A resource configured in a way the model does not price (rather than a wrong number)."""


@dataclass(frozen=True)
class Line:
    service: str
    item: str
    formula: str
    fixed_month: float = 0.0
    per_run: float = 0.0
    per_1000_requests: float = 0.0


@dataclass(frozen=True)
class Prices:
    region: str
    as_of: str
    table: dict[str, dict]

    def __getitem__(self, key: str) -> float:
        return self.table[key]["usd"]


def load_prices(region: str = "us-east-1") -> Prices:
    document = json.loads((PRICES / f"{region}.json").read_text())
    return Prices(document["region"], document["as_of"], document["prices"])


Rule = Callable[[list[Resource], Inventory, Usage, Prices], list[Line]]


def _interface_endpoints(resources, inventory, usage, p):
    lines = []
    for r in resources:
        if r.properties.get("VpcEndpointType") != "Interface":
            continue
        azs = len(r.properties.get("SubnetIds", []))
        service = _service_name(r.properties.get("ServiceName"))
        lines.append(Line("VPC endpoints", f"{service} interface endpoint", f"{azs} AZ x {HOURS_PER_MONTH} h x "
                          f"${p['vpc_interface_endpoint_az_hour']}", fixed_month=azs * HOURS_PER_MONTH
                          * p["vpc_interface_endpoint_az_hour"]))
    return lines


def _service_name(name) -> str:
    """com.amazonaws.<region>.ecr.api (as synthesized: an Fn::Join around the region) -> ecr.api."""
    last = name["Fn::Join"][1][-1] if isinstance(name, dict) else str(name).split(".", 3)[-1]
    return last.lstrip(".")


def _per_item(service: str, item: str, price: str) -> Rule:
    def rule(resources, inventory, usage, p):
        return [Line(service, f"{item} ({r.stack}/{r.logical_id})", f"1 x ${p[price]}/month", fixed_month=p[price])
                for r in resources]
    return rule


def _lambda(resources, inventory, usage, p):
    lines = []
    for state, function_id in sorted(inventory.lambda_states.items()):
        function = inventory.by_id(function_id)
        memory_gb = function.properties.get("MemorySize", 128) / 1024
        arm = function.properties.get("Architectures") == ["arm64"]
        price = p["lambda_gb_second_arm" if arm else "lambda_gb_second_x86"]
        seconds = usage.state_seconds.get(state, 0.0)
        requests = usage.units(state)
        lines.append(Line("Lambda", f"{state} ({memory_gb * 1024:.0f} MB, {'arm64' if arm else 'x86'})",
                          f"{seconds:.1f} s x {memory_gb:.2f} GB x ${price}/GB-s + {requests:,} request"
                          + ("s" if requests > 1 else ""),
                          per_run=seconds * memory_gb * price + requests * p["lambda_request"]))
    return lines


def _fargate(resources, inventory, usage, p):
    lines = []
    for state, reference in sorted(inventory.task_states.items()):
        task = _task_definition(reference, resources)
        vcpu, memory_gb = int(task.properties["Cpu"]) / 1024, int(task.properties["Memory"]) / 1024
        arm = task.properties.get("RuntimePlatform", {}).get("CpuArchitecture") == "ARM64"
        tasks = usage.units(state)
        seconds = fargate_seconds(usage.state_seconds.get(state, 0.0), usage.local_cpus, vcpu, tasks)
        rate = vcpu * p[f"fargate_vcpu_hour_{'arm' if arm else 'x86'}"] + memory_gb * p[
            f"fargate_gb_hour_{'arm' if arm else 'x86'}"]
        count = f"{tasks:,} tasks" if tasks > 1 else "task"
        lines.append(Line("Fargate", f"{state} {count} ({vcpu:g} vCPU, {memory_gb:g} GB, {'ARM' if arm else 'x86'})",
                          f"{seconds:.0f} s billed x ${rate:.5f}/h", per_run=seconds / 3600 * rate))
    return lines


def fargate_seconds(local_seconds: float, local_cpus: int, task_vcpus: float, tasks: int = 1) -> float:
    """Billed seconds of a stage measured locally, run on `tasks` tasks of `task_vcpus` (see cost.usage)."""
    running = local_seconds * local_cpus / task_vcpus / tasks
    return tasks * max(ASSUMPTIONS["fargate_minimum_seconds"], running + ASSUMPTIONS["fargate_startup_seconds"])


def _task_definition(reference: str, resources: list[Resource]) -> Resource:
    """The task definition a state names, across stacks ('EngagementMlTrainingTaskTaskDefinition9304FC5E')."""
    stem = re.sub(r"[0-9A-F]{8}$", "", reference)
    return next(r for r in resources if stem.endswith(re.sub(r"[0-9A-F]{8}$", "", r.logical_id)))


def _step_functions(resources, inventory, usage, p):
    express = [r.logical_id for r in resources if r.properties.get("StateMachineType", "STANDARD") != "STANDARD"]
    if express:
        raise Unpriced(f"Express state machines are priced by duration and requests, not modelled: {express}")
    transitions = usage.state_entries + 1
    return [Line("Step Functions", "engagement pipeline (Standard)", f"{transitions} transitions x "
                 f"${p['stepfunctions_transition']}", per_run=transitions * p["stepfunctions_transition"])]


def _athena(resources, inventory, usage, p):
    processed = usage.bytes_of("processedbucket")
    bronze = processed * ASSUMPTIONS["bronze_share_of_processed"]
    scanned = len(inventory.athena_states) * max(ASSUMPTIONS["athena_minimum_bytes"], bronze)
    return [Line("Athena", f"{len(inventory.athena_states)} CTAS statements (views and DDL scan nothing)",
                 f"{len(inventory.athena_states)} x max(10 MB, bronze {bronze / 1024**2:.1f} MB) x "
                 f"${p['athena_tb_scanned']}/TB", per_run=scanned / 1024**4 * p["athena_tb_scanned"])]


def _dynamodb(resources, inventory, usage, p):
    provisioned = [r.logical_id for r in resources if r.properties.get("BillingMode") != "PAY_PER_REQUEST"]
    if provisioned:
        raise Unpriced(f"provisioned-capacity tables are not modelled (on-demand only): {provisioned}")
    runs_kept = 3  # items expire 21 days after they are written: three weekly runs live at once
    stored_gb = usage.cache_items * 1024 * runs_kept / GB
    warmed = [r.logical_id for r in resources if r.properties.get("WarmThroughput")]
    return [
        Line("DynamoDB", "prediction cache writes (one 1 KB item a customer)", f"{usage.cache_items:,} WRU x "
             f"${p['dynamodb_write_request']}", per_run=usage.cache_items * p["dynamodb_write_request"]),
        Line("DynamoDB", f"cache storage and PITR ({runs_kept} runs live)", f"{stored_gb:.3f} GB x "
             f"(${p['dynamodb_gb_month']} + ${p['dynamodb_pitr_gb_month']})",
             fixed_month=stored_gb * (p["dynamodb_gb_month"] + p["dynamodb_pitr_gb_month"])),
        *[Line("DynamoDB", f"{table}: pre-warmed throughput (NOT PRICED here: a one-time charge, see AWS's "
               "DynamoDB pricing)", "-", per_run=0.0) for table in warmed],
    ]


def _s3(resources, inventory, usage, p):
    stored_gb = sum(usage.bytes_of(r.logical_id) for r in resources) / GB  # the app's buckets, not cdk's
    return [Line("S3", f"what one run stores, in {len(resources)} buckets (the month's new storage)",
                 f"{stored_gb:.3f} GB x ${p['s3_standard_gb_month']}/GB-month",
                 per_run=stored_gb * p["s3_standard_gb_month"])]


def _logs(resources, inventory, usage, p):
    invocations = len(inventory.lambda_states) + len(inventory.task_states)
    gb = invocations * ASSUMPTIONS["log_kb_per_invocation"] / 1024**2
    return [Line("CloudWatch Logs", f"{len(resources)} log groups (ingestion, assumed "
                 f"{ASSUMPTIONS['log_kb_per_invocation']} KB a stage)", f"{gb * 1024**2:.0f} KB x "
                 f"${p['logs_ingested_gb']}/GB", per_run=gb * p["logs_ingested_gb"])]


def _knowledge_base(resources, inventory, usage, p):
    documents = usage.bytes_of("knowledgebasebucket")
    tokens = documents / ASSUMPTIONS["characters_per_token"]
    vectors_gb = _vectors_gb(documents)
    return [Line("Bedrock", "knowledge base sync (Titan v2 embeddings of the run's documents)",
                 f"{tokens:,.0f} tokens x ${p['bedrock_titan_embedding_token']} + {vectors_gb * 1024**2:.0f} KB "
                 f"vectors x ${p['s3_vectors_put_gb']}/GB",
                 per_run=tokens * p["bedrock_titan_embedding_token"] + vectors_gb * p["s3_vectors_put_gb"])]


def _vector_index(resources, inventory, usage, p):
    vectors_gb = _vectors_gb(usage.bytes_of("knowledgebasebucket"))
    return [Line("S3 Vectors", "vector storage", f"{vectors_gb * 1024**2:.0f} KB x ${p['s3_vectors_gb_month']}"
                 "/GB-month", fixed_month=vectors_gb * p["s3_vectors_gb_month"])]


def _vectors_gb(document_bytes: int) -> float:
    return document_bytes / ASSUMPTIONS["chunk_characters"] * ASSUMPTIONS["vector_bytes"] / GB


def _rest_api(resources, inventory, usage, p):
    a = ASSUMPTIONS
    calls = a["ask_model_calls_per_question"]
    tokens_in, tokens_out = calls * a["ask_input_tokens_per_call"], calls * a["ask_output_tokens_per_call"]
    ask = (tokens_in * p["bedrock_sonnet_input_token"] + tokens_out * p["bedrock_sonnet_output_token"]
           + p["apigateway_rest_request"] + p["s3_vectors_query"]) * 1000
    return [
        Line("API Gateway + Lambda", "POST /predict", f"1,000 x ${p['apigateway_rest_request']}",
             per_1000_requests=1000 * p["apigateway_rest_request"]),
        Line("Bedrock", "POST /ask (assumed tokens: not measured locally, where the model is a stand-in)",
             f"1,000 x ({tokens_in:,} in x ${p['bedrock_sonnet_input_token']} + {tokens_out:,} out x "
             f"${p['bedrock_sonnet_output_token']} + request)", per_1000_requests=ask),
    ]


def _sns(resources, inventory, usage, p):
    return [Line("SNS", "one notification a run", f"1 x ${p['sns_publish']}", per_run=p["sns_publish"])]


RULES: dict[str, Rule] = {
    "AWS::EC2::VPCEndpoint": _interface_endpoints,
    "AWS::KMS::Key": _per_item("KMS", "customer-managed key", "kms_key_month"),
    "AWS::SecretsManager::Secret": _per_item("Secrets Manager", "secret", "secret_month"),
    "AWS::CloudWatch::Alarm": _per_item("CloudWatch", "alarm", "cloudwatch_alarm_month"),
    "AWS::Lambda::Function": _lambda,
    "AWS::ECS::TaskDefinition": _fargate,
    "AWS::StepFunctions::StateMachine": _step_functions,
    "AWS::Athena::WorkGroup": _athena,
    "AWS::DynamoDB::Table": _dynamodb,
    "AWS::S3::Bucket": _s3,
    "AWS::Logs::LogGroup": _logs,
    "AWS::Bedrock::KnowledgeBase": _knowledge_base,
    "AWS::S3Vectors::Index": _vector_index,
    "AWS::S3Vectors::VectorBucket": lambda *args: [],  # priced on its index
    "AWS::ApiGateway::RestApi": _rest_api,
    "AWS::SNS::Topic": _sns,
}


def cost_lines(inventory: Inventory, usage: Usage, prices: Prices) -> list[Line]:
    lines = []
    for kind, rule in RULES.items():
        resources = inventory.of_type(kind)
        if resources:
            lines += rule(resources, inventory, usage, prices)
    return lines
