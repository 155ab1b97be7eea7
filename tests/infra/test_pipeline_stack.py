"""PipelineStack and MlStack: the state machine's shape, retries, catches and gate; scoped IAM."""

import json
import subprocess
from pathlib import Path

import pytest
from aws_cdk.assertions import Match, Template

from constructs.access import ATHENA_BUCKET_ACTIONS, GLUE_ACTIONS, S3_ACTIONS
from engagement.layout import GLUE_ACCESS, LIST, PLACES, PUBLISHED_RUN_TABLE, READ, S3_ACCESS
from deployment.definition import load_definition, placeholder, state_machines, walk
from stacks.ml_stack import TASK_CPU, TASK_MEMORY_MIB
from stacks.pipeline_stack import STAGES

REPO = Path(__file__).resolve().parents[2]
VIEW_STATES = ["CreateFinalResultsView", "CreateHumanReviewView", "CreatePredictionsView",
               "CreateHighValueCustomersView", "CreateAtRiskCustomersView", "CreateModelPerformanceView",
               "CreateCustomerFeaturesView", "CreateAssistantCustomersView"]
TOP_LEVEL = ["ClaimRun", "PlanIngest", "IngestFiles", "MergeIngest", "PrepareData", "ValidateAndTrain", "QualityGate", "PlanShards", "ScoreShards",
             "MergeInference", "RegisterPredictions", "BuildOutputs", "RegisterOutputs",
             *VIEW_STATES, "PublishLatest", "ReleaseRunLock", "NotifySuccess", "Published"]
LAMBDA_STATES = {"ClaimRun": "claim_run", "IngestFile": "ingest", "PlanIngest": "plan_ingest", "MergeIngest": "merge_shards",
                 "ProfileFile": "validate", "MergeValidation": "merge_shards", "LoadCacheShard": "cache_load",
                 "PlanShards": "plan_shards", "MergeInference": "merge_shards", "CheckCacheLoad": "merge_shards",
                 "KnowledgeBaseDocuments": "knowledge_base", "RegisterPredictions": "register_run_tables",
                 "RegisterOutputs": "register_run_tables", "PublishLatest": "publish"}


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
    assert branches == {"PrepareData": ["PrepareTrainingData", "PrepareTestData", "PrepareInferenceData"],
                        "ValidateAndTrain": ["ValidateFiles", "Training"],
                        "BuildOutputs": ["CreateQaTable", "CreateResultsTable", "CreateCustomerFeaturesTable", "LoadCacheShards",
                                         "KnowledgeBaseDocuments"]}


def test_integrations_use_the_documented_resources(definition):
    resources = {name: state.get("Resource") for _, name, state in walk(definition) if state["Type"] == "Task"}
    for name in LAMBDA_STATES:
        assert resources[name].endswith(":states:::lambda:invoke"), name
    for name in ("PrepareTrainingData", "CreateQaTable", "CreateResultsTable", *VIEW_STATES):
        assert resources[name].endswith(":states:::athena:startQueryExecution.sync"), name
    for name in ("Training", "ScoreShard"):
        assert resources[name].endswith(":states:::ecs:runTask.sync"), name
    for name in ("ReleaseRunLock", "ReleaseRunLockOnFailure", "ReleaseRunLockOnGateFailure"):
        assert resources[name].endswith(":states:::dynamodb:deleteItem"), name
    assert resources["ReadTrainingSummary"].endswith(":states:::aws-sdk:s3:getObject")
    assert resources["NotifyFailure"].endswith(":states:::sns:publish")


def test_every_task_retries_with_backoff(definition):
    for _, name, state in walk(definition):
        if state["Type"] == "Task" and not name.startswith("Notify"):
            # KnowledgeBaseDocuments also waits out a running sync, LoadCacheShard a throttled table
            [retry, *waits] = state["Retry"]
            assert len(waits) == (name in ("KnowledgeBaseDocuments", "LoadCacheShard")), name
            assert retry["BackoffRate"] == 2 and retry["MaxAttempts"] >= 2, name
            assert "States.ALL" not in retry["ErrorEquals"], name  # data errors must not be retried


def test_a_retried_athena_statement_finds_the_query_that_already_ran(definition):
    """A CTAS retried after it created its table failed on "already exists": each statement now
    carries a client request token per run and state, so Athena returns the first query."""
    athena = {name: state for _, name, state in walk(definition)
              if state.get("Resource", "").endswith("athena:startQueryExecution.sync")}
    assert len(athena) == 6 + len(VIEW_STATES)  # 3 splits, QA, results, customer features
    for name, state in athena.items():
        token = state["Parameters"]["ClientRequestToken.$"]
        assert token == f"States.Format('engagement-pipeline/{{}}/{name}', $.run.run_id)", name
        assert 0 < state["TimeoutSeconds"] <= 900, name
        assert state["ResultPath"] == "$.last_query", name


def test_container_tasks_have_their_own_time_limits(definition):
    tasks = {name: state for _, name, state in walk(definition) if state.get("Resource", "").endswith("ecs:runTask.sync")}
    assert {name: state["TimeoutSeconds"] for name, state in tasks.items()} == {"Training": 3600, "ScoreShard": 2400}
    assert "HeartbeatSeconds" not in json.dumps(tasks)  # .sync integrations send none


def test_every_failure_path_releases_the_lock_notifies_and_publishes_nothing(definition):
    caught = {name: state["Catch"] for path, name, state in walk(definition) if not path and "Catch" in state
              and not name.startswith("ReleaseRunLock")}
    assert set(caught) == set(TOP_LEVEL) - {"QualityGate", "ReleaseRunLock", "NotifySuccess", "Published"}
    for name, catches in caught.items():
        assert catches == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error",
                            "Next": "ReleaseRunLockOnFailure"}], name
    states = definition["States"]
    assert states["ReleaseRunLockOnFailure"]["Next"] == "NotifyFailure"
    assert states["NotifyFailure"]["Next"] == "PipelineFailed" and states["PipelineFailed"]["Type"] == "Fail"
    # Publishing happens only after every output exists: no failure route passes through it.
    assert happy_path(definition).index("PublishLatest") > happy_path(definition).index("RegisterOutputs")


def test_inference_and_cache_load_fan_out_over_the_shard_manifest(definition):
    """Both Distributed Maps read the manifest PlanShards wrote; each child catches its task's
    failure and reports the shard, which the merge step after the map turns into a failed run."""
    states = definition["States"]
    score, load = states["ScoreShards"], states["BuildOutputs"]["Branches"][3]["States"]["LoadCacheShards"]
    for fan_out, result_path in ((score, "$.shard_results"), (load, "$.cache_results")):
        assert fan_out["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
        assert fan_out["ItemReader"]["ReaderConfig"] == {"InputType": "JSON"}
        assert fan_out["ItemReader"]["Parameters"]["Key.$"] == "States.Format('runs/{}/shards.json', $.run.run_id)"
        assert fan_out["ItemSelector"] == {"run_id.$": "$.run.run_id", "shard.$": "$$.Map.Item.Value"}
        assert fan_out["ResultPath"] == result_path and fan_out["MaxConcurrency"] >= 1
        children = fan_out["ItemProcessor"]["States"]
        [(name, task)] = [(name, state) for name, state in children.items() if state["Type"] == "Task"]
        assert task["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": f"{name}Failed"}]
        assert children[f"{name}Failed"]["Parameters"] == {"shard.$": "$.shard.shard", "failed.$": "$.error"}
    environment = {e["Name"]: e.get("Value.$", e.get("Value")) for e in
                   score["ItemProcessor"]["States"]["ScoreShard"]["Parameters"]["Overrides"]["ContainerOverrides"][0]["Environment"]}
    assert environment["INFERENCE_SHARD"] == "States.JsonToString($.shard)"
    assert environment["PREDICTIONS_URI"].endswith("/predictions/run_id={}/shard-{}.parquet', $.run_id, $.shard.shard)")
    assert states["MergeInference"]["Parameters"]["Payload"]["results.$"] == "$.shard_results"
    check = states["BuildOutputs"]["Branches"][3]["States"]["CheckCacheLoad"]["Parameters"]["Payload"]
    assert check["results.$"] == "$.cache_results" and check["rows_scored.$"] == "$.inference.rows_scored"


def test_the_state_machine_may_run_its_own_child_executions_and_nothing_else(pipeline_template):
    [policy] = [r for k, r in pipeline_template.to_json()["Resources"].items() if k.startswith("DistributedMapPolicy")]
    by_action = {json.dumps(s["Action"]): json.dumps(s["Resource"]) for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    assert set(by_action) == {'"states:StartExecution"', '["states:DescribeExecution", "states:StopExecution"]',
                              '"lambda:InvokeFunction"'}
    assert by_action['"states:StartExecution"'].startswith('{"Ref": "PipelineStateMachine')  # itself, no wildcard
    children = by_action['["states:DescribeExecution", "states:StopExecution"]']
    assert ":execution:" in children and '"Fn::GetAtt": ["PipelineStateMachine' in children and "/*" in children
    assert "CacheLoadFunction" in by_action['"lambda:InvokeFunction"']


def test_every_terminal_path_releases_the_run_lock(definition):
    """Success, failure and a failed quality gate each pass a lock release; a release that fails
    (the lock is another execution's) still goes on to the notification."""
    states = definition["States"]
    releases = {"ReleaseRunLock": "NotifySuccess", "ReleaseRunLockOnFailure": "NotifyFailure",
                "ReleaseRunLockOnGateFailure": "NotifyQualityGateFailed"}
    for release, notify in releases.items():
        state = states[release]
        assert state["Next"] == notify
        assert state["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.lock_release_error", "Next": notify}]
        assert state["Parameters"]["ConditionExpression"] == "#execution = :execution"
        assert state["Parameters"]["ExpressionAttributeValues"][":execution"] == {
            "S.$": "States.Format('{}@{}', $$.Execution.Name, $$.Execution.StartTime)"}
    assert states["QualityGate"]["Default"] == "ReleaseRunLockOnGateFailure"
    terminal = {name for name, state in states.items() if state["Type"] in ("Succeed", "Fail")}
    before = {state["Next"]: name for name, state in states.items() if "Next" in state}
    assert {before[before[name]] for name in terminal} == set(releases)


def test_the_claim_and_the_release_name_the_execution_alike(definition):
    claim = definition["States"]["ClaimRun"]["Parameters"]["Payload"]
    release = definition["States"]["ReleaseRunLock"]["Parameters"]["ExpressionAttributeValues"][":execution"]
    assert claim["execution.$"] == release["S.$"]


def test_quality_gate_reads_the_training_verdict(definition):
    gate = definition["States"]["QualityGate"]
    assert gate["Choices"] == [{"Variable": "$.checks.training.passed", "BooleanEquals": True, "Next": "PlanShards"}]
    assert gate["Default"] == "ReleaseRunLockOnGateFailure"
    assert definition["States"]["NotifyQualityGateFailed"]["Next"] == "QualityGateFailed"


def test_ml_tasks_get_the_run_id_from_the_execution(definition):
    [training] = [s for _, n, s in walk(definition) if n == "Training"]
    environment = {e["Name"]: e for e in training["Parameters"]["Overrides"]["ContainerOverrides"][0]["Environment"]}
    assert environment["MODEL_VERSION"] == {"Name": "MODEL_VERSION", "Value.$": "$.run.run_id"}
    assert environment["TRAINING_DATA_URI"]["Value.$"] == (
        "States.Format('s3://${Import:EngagementData-ProcessedBucketName}/runs/{}/training/', $.run.run_id)")
    network = training["Parameters"]["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network.get("AssignPublicIp", "DISABLED") == "DISABLED"  # ECS's default when omitted


def test_athena_statements_come_from_sql_files(definition):
    import sql

    [prepare] = [state["Parameters"] for _, name, state in walk(definition) if name == "PrepareTrainingData"]
    assert prepare["QueryString.$"].startswith("States.Format('CREATE TABLE engagement_raw.training_{}")
    assert "external_location = \\'s3://${Import:EngagementData-ProcessedBucketName}/runs/{}/training/\\'" in \
        prepare["QueryString.$"]
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
    assert {f["Properties"]["Handler"] for f in stage} == {handler for handler, *_ in STAGES.values()}
    for function in stage:
        properties = function["Properties"]
        assert properties["VpcConfig"]["SubnetIds"] and properties["TracingConfig"] == {"Mode": "Active"}
        assert "WorkloadSecurityGroup" in json.dumps(properties["VpcConfig"]["SecurityGroupIds"])
        assert "KmsKeyArn" in properties and properties["Runtime"] == "python3.11"
        assert "ReservedConcurrentExecutions" not in properties  # reserveConcurrency=true reserves 2


def test_the_alarms_may_publish_to_the_encrypted_topic(pipeline_template):
    """CloudWatch publishes as cloudwatch.amazonaws.com: the topic policy (which replaces SNS's
    default) and the topic's key policy must both admit it, or no alarm notification arrives."""
    [policy] = pipeline_template.find_resources("AWS::SNS::TopicPolicy").values()
    [publish] = [s for s in policy["Properties"]["PolicyDocument"]["Statement"]
                 if s["Effect"] == "Allow" and s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
    assert publish["Action"] == "sns:Publish"
    alarms = {logical_id for logical_id in pipeline_template.find_resources("AWS::CloudWatch::Alarm")}
    assert {arn["Fn::GetAtt"][0] for arn in publish["Condition"]["ArnEquals"]["aws:SourceArn"]} == alarms
    [key] = [k for k in pipeline_template.find_resources("AWS::KMS::Key").values()]
    admitted = [s for s in key["Properties"]["KeyPolicy"]["Statement"]
                if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
    assert {"kms:Decrypt", "kms:GenerateDataKey*"} <= {a for s in admitted for a in _list(s["Action"])}


def test_no_function_reserves_concurrency_by_default(synthesized):
    """New accounts often have a concurrency quota of 10-50 with 100 kept unreserved: any reservation
    fails the deploy there."""
    reserving = [logical_id for template in synthesized.templates.values()
                 for logical_id, function in template.find_resources("AWS::Lambda::Function").items()
                 if "ReservedConcurrentExecutions" in function["Properties"]]
    assert reserving == []


def policies(template: Template):
    """Inline policies, and the managed ones CDK splits a role's policy into when it grows large."""
    for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for policy in template.find_resources(kind).values():
            yield policy["Metadata"]["aws:cdk:path"], policy["Properties"]["PolicyDocument"]["Statement"]


def statements_of(template: Template, path_part: str) -> list[dict]:
    return [s for path, statements in policies(template) if path_part in path for s in statements]


def test_no_statement_grants_a_wildcard_action(synthesized):
    for template in synthesized.templates.values():
        for path, statements in policies(template):
            for statement in statements:
                assert not [a for a in _list(statement["Action"]) if "*" in a], (path, statement["Action"])


def test_no_data_action_on_every_resource_anywhere(synthesized):
    """S3, Glue, KMS, DynamoDB, Secrets Manager and Athena actions name their resources."""
    for template in synthesized.templates.values():
        for path, statements in policies(template):
            for statement in statements:
                if _list(statement["Resource"]) == ["*"]:
                    data = [a for a in _list(statement["Action"])
                            if a.split(":")[0] in ("s3", "glue", "kms", "dynamodb", "secretsmanager", "athena",
                                                   "lakeformation")]
                    assert data == [], (path, data)


def test_the_acknowledged_resource_star_names_every_action_it_covers(pipeline_template):
    [star] = [s for s in statements_of(pipeline_template, "/StateMachine/Role/") if s["Resource"] == "*"]
    [machine] = pipeline_template.find_resources("AWS::StepFunctions::StateMachine").values()
    [reason] = [rule["reason"] for policy in pipeline_template.find_resources("AWS::IAM::Policy").values()
                if "/StateMachine/Role/" in policy["Metadata"]["aws:cdk:path"]
                for rule in policy["Metadata"]["cdk_nag"]["rules_to_suppress"]
                if rule["id"] == "AwsSolutions-IAM5[Resource::*]"]
    for action in _list(star["Action"]):
        service, name = action.split(":")
        assert name in reason or f"{service}:{name}" in reason, action


def s3_grants(statements: list[dict]) -> set[tuple[str, str, str]]:
    """(bucket, key pattern, action) for every S3 statement, as the contract would say it."""
    grants = set()
    for statement in statements:
        for action in _list(statement["Action"]):
            if not action.lower().startswith("s3:"):
                continue
            for resource in _list(statement["Resource"]):
                text = json.dumps(resource)
                bucket = _bucket_of(text)
                if action == "s3:ListBucket":
                    for pattern in statement["Condition"]["StringLike"]["s3:prefix"]:
                        grants.add((bucket, pattern, action))
                elif action not in ATHENA_BUCKET_ACTIONS:
                    grants.add((bucket, resource["Fn::Join"][1][-1].lstrip("/"), action.replace("getObject", "GetObject")))
    return grants


def _bucket_of(text: str) -> str:
    for logical in sorted(PLACES_BY_EXPORT, key=len, reverse=True):
        if f"EngagementData-{logical}BucketArn" in text:
            return PLACES_BY_EXPORT[logical]
    raise AssertionError(f"no platform bucket in {text}")


PLACES_BY_EXPORT = {"".join(p.capitalize() for p in b.split("_")): b for b in {p.bucket for p in PLACES.values()}}


def expected_s3(stage: str) -> set[tuple[str, str, str]]:
    expected = set()
    for name, kinds in S3_ACCESS[stage].items():
        place = PLACES[name]
        if LIST in kinds or READ in kinds:
            expected |= {(place.bucket, prefix, "s3:ListBucket") for prefix in place.list_prefixes}
        for kind in kinds:
            if kind != LIST:
                expected |= {(place.bucket, place.pattern, action) for action in S3_ACTIONS[kind]}
    return expected


PRINCIPALS = {**{stage: f"/{''.join(p.capitalize() for p in stage.split('_'))}Function/" for stage in STAGES},
              "state_machine": "/StateMachine/Role/", "training": "/TrainingTask/TaskDefinition/TaskRole/",
              "inference": "/InferenceTask/TaskDefinition/TaskRole/", "predict": "/PredictFunction/",
              "assistant": "/AskFunction/", "knowledge_base_index": "/KnowledgeBase/ServiceRole/"}


@pytest.mark.parametrize("stage", sorted(S3_ACCESS))
def test_each_stage_reaches_exactly_what_the_run_layout_says(synthesized, stage):
    stacks = {"training": synthesized.platform.ml, "inference": synthesized.platform.ml,
              "predict": synthesized.platform.ai, "assistant": synthesized.platform.ai,
              "knowledge_base_index": synthesized.platform.ai}
    template = synthesized.templates[stacks.get(stage, synthesized.platform.pipeline).stack_name]
    statements = statements_of(template, PRINCIPALS[stage])
    assert s3_grants(statements) == expected_s3(stage)
    glue = {(a, _glue_resource(r)) for s in statements for a in _list(s["Action"]) if a.startswith("glue:")
            for r in _list(s["Resource"])}
    expected = {(action, resource) for table, kinds in GLUE_ACCESS.get(stage, {}).items() for kind in kinds
                for action in GLUE_ACTIONS[kind]
                for resource in ("catalog", f"database/{table.database}", f"table/{table.database}/{table.pattern}")}
    assert glue == expected


def _glue_resource(resource) -> str:
    return resource["Fn::Join"][1][-1].split(":")[-1]


def test_cache_load_only_batch_writes_the_prediction_cache(synthesized):
    statements = statements_of(synthesized.templates[synthesized.platform.pipeline.stack_name],
                               PRINCIPALS["cache_load"])
    dynamodb = [(action, json.dumps(statement["Resource"])) for statement in statements
                for action in _list(statement["Action"]) if action.startswith("dynamodb:")]
    assert [action for action, _ in dynamodb] == ["dynamodb:BatchWriteItem"]
    assert "CacheTableArn" in dynamodb[0][1]


def test_only_publish_latest_can_write_the_published_pointer_and_nothing_can_delete(synthesized):
    writers = set()
    pointer = PLACES["published_pointer"].key
    for template in synthesized.templates.values():
        for path, statements in policies(template):
            for statement in statements:
                actions = _list(statement["Action"])
                assert not [a for a in actions if a.startswith(("s3:Delete", "glue:Delete", "glue:BatchDelete"))], path
                if "s3:PutObject" in actions and pointer in json.dumps(statement["Resource"]):
                    writers.add(path.split("/")[1])
    assert writers == {"PublishFunction"}


def _list(value):
    return value if isinstance(value, list) else [value]


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


def _table_place(table) -> str | None:
    """The run-layout place a table's files are in (None: a view)."""
    from engagement.catalog import TABLES
    from engagement.layout import BY_RUN_TABLES, RUN_TABLES

    by_table = {**{t: name for name, t in RUN_TABLES.items()}, **{t: name for name, t in BY_RUN_TABLES.items()},
                **{spec.table: spec.place for spec in TABLES}}
    return by_table.get(table)


def listed_by_services(stage: str) -> set[tuple[str, str]]:
    """(bucket, s3:prefix) that AWS services list as `stage`'s role for one run: Athena lists the
    location of every table it reads or writes (a by-run table's root, the run's folder in it) and
    its results location; a knowledge base's sync lists its data source's prefix."""
    listed = set()
    if stage == "knowledge_base_index":
        place = PLACES["knowledge_base_documents"]
        return {(place.bucket, place.root)}
    for table in GLUE_ACCESS.get(stage, {}):
        if stage == "state_machine" and table == PUBLISHED_RUN_TABLE:
            continue  # only the views it creates name the pointer's table: CREATE VIEW reads no data
        name = _table_place(table)
        if name:
            place = PLACES[name]
            listed |= {(place.bucket, place.root), (place.bucket, place.folder.replace("*", "r_1_abc"))}
    query_results = PLACES["query_results"]
    return listed | {(query_results.bucket, query_results.root)}


@pytest.mark.parametrize("stage", ["state_machine", "assistant", "knowledge_base_index"])
def test_the_folders_aws_services_list_as_a_role_are_admitted(synthesized, stage):
    """Athena and Bedrock list folders (`s3:prefix` = "final_results/run_id=<id>/"), so a list
    grant naming only files refuses them on AWS."""
    from fnmatch import fnmatchcase

    stacks = {"assistant": synthesized.platform.ai, "knowledge_base_index": synthesized.platform.ai}
    template = synthesized.templates[stacks.get(stage, synthesized.platform.pipeline).stack_name]
    grants = s3_grants(statements_of(template, PRINCIPALS[stage]))
    refused = [(bucket, prefix) for bucket, prefix in sorted(listed_by_services(stage))
               if not any(b == bucket and action == "s3:ListBucket" and fnmatchcase(prefix, pattern)
                          for b, pattern, action in grants)]
    assert not refused, f"{stage} may not list {refused}"


def test_a_knowledge_base_sync_still_running_is_waited_out(definition):
    from engagement.knowledge_base import IngestionJobBusy

    [state] = [state for _, name, state in walk(definition) if name == "KnowledgeBaseDocuments"]
    [retry] = [r for r in state["Retry"] if r["ErrorEquals"] == [IngestionJobBusy.__name__]]
    waited = sum(retry["IntervalSeconds"] * retry["BackoffRate"] ** n for n in range(retry["MaxAttempts"]))
    assert waited >= 3600  # a sync of a run's documents takes minutes


def _resolved(value):
    """A template value with each reference as a stable stand-in ARN, for evaluating policies."""
    if isinstance(value, dict) and "Ref" in value:
        return f"arn:ref:{value['Ref']}"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return f"arn:getatt:{value['Fn::GetAtt'][0]}"
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(_resolved(part) for part in parts)
    if isinstance(value, dict):
        return {key: _resolved(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolved(item) for item in value]
    return value


def test_service_principals_are_admitted_by_the_resource_policies_as_aws_decides(pipeline_template):
    """CloudWatch publishes a failure alarm to the encrypted topic (topic and key policy both decide),
    and EventBridge starts the weekly run through a role it may assume that may start only this machine."""
    from localcloud.iam import Policy, Request, evaluate

    [topic] = pipeline_template.find_resources("AWS::SNS::Topic")
    [topic_policy] = pipeline_template.find_resources("AWS::SNS::TopicPolicy").values()
    [alarm, *_] = pipeline_template.find_resources("AWS::CloudWatch::Alarm")
    context = {"aws:SourceArn": f"arn:getatt:{alarm}", "aws:SourceAccount": "arn:ref:AWS::AccountId",
               "aws:SecureTransport": "true"}
    publish = Request("cloudwatch.amazonaws.com", "sns:Publish", f"arn:ref:{topic}", context)
    assert evaluate(publish, [], Policy("topic", _resolved(topic_policy["Properties"]["PolicyDocument"]))).allowed
    [key] = pipeline_template.find_resources("AWS::KMS::Key").values()
    key_policy = Policy("key", _resolved(key["Properties"]["KeyPolicy"]))
    for action in ("kms:GenerateDataKey", "kms:Decrypt"):
        assert evaluate(Request("cloudwatch.amazonaws.com", action, "arn:key", context), [], key_policy,
                        key_policy=True).allowed, action
    [rule] = pipeline_template.find_resources("AWS::Events::Rule").values()
    [target] = rule["Properties"]["Targets"]
    role = target["RoleArn"]["Fn::GetAtt"][0]
    trust = pipeline_template.find_resources("AWS::IAM::Role")[role]["Properties"]["AssumeRolePolicyDocument"]
    assert evaluate(Request("events.amazonaws.com", "sts:AssumeRole", f"arn:getatt:{role}"), [],
                    Policy("trust", _resolved(trust))).allowed
    identity = [Policy("events", _resolved(p["Properties"]["PolicyDocument"]))
                for p in pipeline_template.find_resources("AWS::IAM::Policy").values()
                if {"Ref": role} in p["Properties"]["Roles"]]
    machine = _resolved(target["Arn"])
    assert evaluate(Request(f"arn:getatt:{role}", "states:StartExecution", machine), identity).allowed
    assert not evaluate(Request(f"arn:getatt:{role}", "states:StartExecution", machine + "-other"), identity).allowed
