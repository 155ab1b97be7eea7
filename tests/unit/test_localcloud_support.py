"""What the local cloud cannot create or run is refused at deploy time, by name."""

from localcloud.assembly import StackArtifact
from localcloud.cloud import unsupported_resources
from localcloud.definition import unsupported

TASK = "arn:aws:states:::{}"


def test_states_the_local_cloud_cannot_run_are_named():
    definition = {"StartAt": "Prepare", "States": {
        "Prepare": {"Type": "Task", "Resource": TASK.format("athena:startQueryExecution.sync"), "Next": "Fan"},
        "Fan": {"Type": "Parallel", "Next": "Each", "Branches": [{"StartAt": "Etl", "States": {
            "Etl": {"Type": "Task", "Resource": TASK.format("glue:startJobRun.sync"), "End": True}}}]},
        "Each": {"Type": "Map", "End": True, "ItemProcessor": {}},
    }}
    problems = unsupported(definition)
    assert len(problems) == 2
    assert problems[0].startswith("state Fan / Etl: arn:aws:states:::glue:startJobRun.sync is not supported locally")
    assert problems[1].startswith("state Each: Map states are not supported locally")


def test_resources_the_local_cloud_cannot_create_are_named():
    stack = StackArtifact(name="EngagementAi", termination_protection=False, depends_on=(), template={"Resources": {
        "Role": {"Type": "AWS::IAM::Role"}, "Bucket": {"Type": "AWS::S3::Bucket"},
        "KnowledgeBase": {"Type": "AWS::Bedrock::KnowledgeBase"}}})
    assert unsupported_resources([stack]) == ["EngagementAi/KnowledgeBase: AWS::Bedrock::KnowledgeBase"]
