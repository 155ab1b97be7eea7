"""PipelineStack and MlStack: the state machine's shape, retries, catches and gate; scoped IAM."""

import json
import subprocess
from pathlib import Path

import pytest
from aws_cdk.assertions import Match, Template

from localcloud.definition import load_definition, placeholder, state_machines, walk
from stacks.ml_stack import TASK_CPU, TASK_MEMORY_MIB
from stacks.pipeline_stack import STAGE_ACCESS

REPO = Path(__file__).resolve().parents[2]
TOP_LEVEL = ["PreCleanup", "Ingest", "PrepareTrainingData", "PrepareTestData", "PrepareInferenceData",
             "ValidateAndTrain", "QualityGate", "Inference", "BuildOutputs", "PublishResultsView", "PublishQaView",
             "PublishPredictionsView", "CreateHighValueView", "CreateAtRiskView", "CreateModelPerformanceView",
             "PublishLatest", "NotifySuccess", "Published"]


@pytest.fixture(scope="module")
def pipeline_template(synthesized) -> Template:
    return synthesized.templates[synthesized.platform.pipeline.stack_name]


@pytest.fixture(scope="module")
def ml_template(synthesized) -> Template:
    return synthesized.templates[synthesized.platform.ml.stack_name]


@pytest.fixture(scope="module")
def definition(synthesized) -> dict:
    [machine] = state_machines(synthesized.raw_templates[synthesized.platform.pipeline.stack_name]).values()
    return load_definition(machine)


def happy_path(definition: dict) -> list[str]:
    order, name = [], definition["StartAt"]
    while name:
        order.append(name)
        state = definition["States"][name]
        name = state["Choices"][0]["Next"] if state["Type"] == "Choice" else state.get("Next")
    return order


def test_states_run_in_the_designed_order(definition):
    assert happy_path(definition) == TOP_LEVEL


def test_parallel_branches(definition):
    branches = {name: [b["StartAt"] for b in state["Branches"]]
                for _, name, state in walk(definition) if state["Type"] == "Parallel"}
    assert branches == {"ValidateAndTrain": ["DataValidation", "Training"],
                        "BuildOutputs": ["CreateQaTable", "CreateResultsTable", "CacheLoad", "KnowledgeBaseDocuments"]}


def test_integrations_use_the_documented_resources(definition):
    resources = {name: state.get("Resource") for _, name, state in walk(definition) if state["Type"] == "Task"}
    for name in ("PreCleanup", "Ingest", "DataValidation", "CacheLoad", "KnowledgeBaseDocuments", "PublishLatest"):
        assert resources[name].endswith(":states:::lambda:invoke"), name
    for name in ("PrepareTrainingData", "CreateQaTable", "CreateResultsTable", "PublishResultsView"):
        assert resources[name].endswith(":states:::athena:startQueryExecution.sync"), name
    for name in ("Training", "Inference"):
        assert resources[name].endswith(":states:::ecs:runTask.sync"), name
    assert resources["ReadTrainingSummary"].endswith(":states:::aws-sdk:s3:getObject")
    assert resources["NotifyFailure"].endswith(":states:::sns:publish")


def test_every_task_retries_with_backoff(definition):
    for _, name, state in walk(definition):
        if state["Type"] == "Task" and not name.startswith("Notify"):
            [retry] = state["Retry"]
            assert retry["BackoffRate"] == 2 and retry["MaxAttempts"] >= 2, name
            assert "States.ALL" not in retry["ErrorEquals"], name  # data errors must not be retried


def test_every_failure_path_notifies_and_publishes_nothing(definition):
    caught = {name: state["Catch"] for path, name, state in walk(definition) if not path and "Catch" in state}
    assert set(caught) == set(TOP_LEVEL) - {"QualityGate", "NotifySuccess", "Published"}
    for name, catches in caught.items():
        assert catches == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "NotifyFailure"}], name
    states = definition["States"]
    assert states["NotifyFailure"]["Next"] == "PipelineFailed" and states["PipelineFailed"]["Type"] == "Fail"
    # Publishing happens only after every output exists: no failure route passes through it.
    assert happy_path(definition).index("PublishResultsView") > happy_path(definition).index("BuildOutputs")


def test_quality_gate_reads_the_training_verdict(definition):
    gate = definition["States"]["QualityGate"]
    assert gate["Choices"] == [{"Variable": "$.checks.training.passed", "BooleanEquals": True, "Next": "Inference"}]
    assert gate["Default"] == "NotifyQualityGateFailed"
    assert definition["States"]["NotifyQualityGateFailed"]["Next"] == "QualityGateFailed"


def test_ml_tasks_get_the_run_id_from_the_execution(definition):
    [training] = [s for _, n, s in walk(definition) if n == "Training"]
    environment = {e["Name"]: e for e in training["Parameters"]["Overrides"]["ContainerOverrides"][0]["Environment"]}
    assert environment["MODEL_VERSION"] == {"Name": "MODEL_VERSION", "Value.$": "$.run.run_id"}
    assert "States.Format" in environment["TRAINING_DATA_URI"]["Value.$"]
    network = training["Parameters"]["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network.get("AssignPublicIp", "DISABLED") == "DISABLED"  # ECS's default when omitted


def test_athena_statements_come_from_sql_files(definition):
    import sql

    prepare = definition["States"]["PrepareTrainingData"]["Parameters"]
    assert prepare["QueryString.$"].startswith("States.Format('CREATE TABLE engagement_raw.training_{}")
    assert "crc32(to_utf8(customer_id)) % 10 < 8" in prepare["QueryString.$"]
    assert "crc32(to_utf8(customer_id)) % 10 < 8" in sql.load("prepare_training").sql


PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012"}


def deployed_values(reference: dict) -> str:
    """What CloudFormation would substitute, near enough for ARN checks."""
    if reference.get("Ref") in PSEUDO:
        return PSEUDO[reference["Ref"]]
    return placeholder(reference)


def test_definition_passes_asl_validator(synthesized):
    [machine] = state_machines(synthesized.raw_templates[synthesized.platform.pipeline.stack_name]).values()
    definition = load_definition(machine, deployed_values)
    validator = REPO / "node_modules" / ".bin" / "asl-validator"
    result = subprocess.run([str(validator), "--json-definition", json.dumps(definition)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_state_machine_logs_traces_and_times_out(pipeline_template):
    pipeline_template.has_resource_properties("AWS::StepFunctions::StateMachine", {
        "TracingConfiguration": {"Enabled": True},
        "LoggingConfiguration": Match.object_like({"Level": "ALL", "IncludeExecutionData": False}),
    })


def test_weekly_schedule_and_alarms(pipeline_template):
    pipeline_template.has_resource_properties("AWS::Events::Rule", {"ScheduleExpression": "cron(0 3 ? * MON *)"})
    metrics = {a["Properties"]["MetricName"] for a in pipeline_template.find_resources("AWS::CloudWatch::Alarm").values()}
    assert metrics == {"ExecutionsFailed", "ExecutionsTimedOut"}
    pipeline_template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})


def test_stage_functions_are_in_the_vpc_traced_and_encrypted(pipeline_template):
    functions = pipeline_template.find_resources("AWS::Lambda::Function")
    stage = [f for f in functions.values() if f["Properties"].get("Handler", "").startswith("handlers.")]
    assert {f["Properties"]["Handler"] for f in stage} == {
        f"handlers.{name}.handler" for name in STAGE_ACCESS}
    for function in stage:
        properties = function["Properties"]
        assert properties["VpcConfig"]["SubnetIds"] and properties["TracingConfig"] == {"Mode": "Active"}
        assert "KmsKeyArn" in properties and properties["Runtime"] == "python3.11"
        assert properties["ReservedConcurrentExecutions"] == 2


def policy_statements(template: Template):
    for policy in template.find_resources("AWS::IAM::Policy").values():
        yield policy["Metadata"]["aws:cdk:path"], policy["Properties"]["PolicyDocument"]["Statement"]


def test_no_statement_grants_a_wildcard_action(pipeline_template, ml_template):
    for template in (pipeline_template, ml_template):
        for path, statements in policy_statements(template):
            for statement in statements:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                assert not [a for a in actions if "*" in a], (path, actions)


def test_each_stage_reaches_only_its_own_prefixes(pipeline_template):
    for path, statements in policy_statements(pipeline_template):
        stage = next((name for name in STAGE_ACCESS
                      if f"/{''.join(p.capitalize() for p in name.split('_'))}Function/" in path), None)
        if stage is None:
            continue
        allowed = {f"EngagementData-{''.join(p.capitalize() for p in bucket.split('_'))}BucketArn/{prefix}*"
                   for bucket, prefix, _ in STAGE_ACCESS[stage]}
        for statement in statements:
            for resource in statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]:
                text = json.dumps(resource)
                if "BucketArn" in text and "/" in text:
                    joined = "".join(p if isinstance(p, str) else p["Fn::ImportValue"]
                                     for p in resource["Fn::Join"][1])
                    assert joined in allowed, (stage, joined)


def test_ml_tasks_are_sized_non_root_and_read_only(ml_template):
    definitions = ml_template.find_resources("AWS::ECS::TaskDefinition")
    assert len(definitions) == 2
    for definition in definitions.values():
        properties = definition["Properties"]
        assert (properties["Cpu"], properties["Memory"]) == (str(TASK_CPU), str(TASK_MEMORY_MIB))
        [container] = properties["ContainerDefinitions"]
        assert container["User"] == "10001" and container["ReadonlyRootFilesystem"] is True
        assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    ml_template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 365, "KmsKeyId": Match.any_value()})


def test_image_is_an_asset_built_at_deploy_time(synthesized):
    manifest = json.loads(next(synthesized.outdir.glob("EngagementMl.assets.json")).read_text())
    [image] = manifest["dockerImages"].values()
    assert image["source"]["dockerFile"] == "ml_container/Dockerfile"
    staged = synthesized.outdir / image["source"]["directory"]
    assert sorted(p.name for p in staged.iterdir()) == ["ml_container", "runtime"]
