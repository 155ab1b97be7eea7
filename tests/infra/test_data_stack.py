"""DataStack: encryption, versioning, TLS-only access, no public access, retention, catalog, cache."""

import json

import pytest
from aws_cdk.assertions import Match, Template

from engagement.schema import COLUMNS, PII_COLUMNS
from engagement.cache import TTL_ATTRIBUTE
from stacks.data_stack import DATABASE_NAMES

DATA_BUCKETS = ("Raw", "Processed", "Models", "Predictions", "Results", "Qa", "KnowledgeBase", "AthenaResults")


def buckets(template: Template) -> dict[str, dict]:
    return template.find_resources("AWS::S3::Bucket")


def bucket_logical_id(template: Template, construct_id: str) -> str:
    path = f"/DataLake/{construct_id}/Bucket/Resource"
    [logical_id] = [lid for lid, r in buckets(template).items() if r["Metadata"]["aws:cdk:path"].endswith(path)]
    return logical_id


def test_every_platform_bucket_exists(data_template: Template):
    data_template.resource_count_is("AWS::S3::Bucket", len(DATA_BUCKETS) + 1)  # + access logs
    for construct_id in DATA_BUCKETS:
        bucket_logical_id(data_template, construct_id)


@pytest.mark.parametrize("construct_id", DATA_BUCKETS)
def test_data_buckets_use_the_platform_kms_key(data_template: Template, construct_id: str):
    bucket = buckets(data_template)[bucket_logical_id(data_template, construct_id)]
    [rule] = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    [key_id] = data_template.find_resources("AWS::KMS::Key")
    assert rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert rule["BucketKeyEnabled"] is True


@pytest.mark.parametrize("construct_id", DATA_BUCKETS)
def test_data_buckets_log_access_to_the_log_bucket(data_template: Template, construct_id: str):
    bucket = buckets(data_template)[bucket_logical_id(data_template, construct_id)]
    logging = bucket["Properties"]["LoggingConfiguration"]
    assert logging["DestinationBucketName"] == {"Ref": bucket_logical_id(data_template, "AccessLogs")}
    assert logging["LogFilePrefix"] == f"{construct_id}/"


def test_access_log_bucket_uses_sse_s3_because_log_delivery_requires_it(data_template: Template):
    bucket = buckets(data_template)[bucket_logical_id(data_template, "AccessLogs")]
    [rule] = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}


def test_every_bucket_is_versioned_private_retained_and_lifecycle_managed(data_template: Template):
    for logical_id, bucket in buckets(data_template).items():
        properties = bucket["Properties"]
        assert properties["VersioningConfiguration"] == {"Status": "Enabled"}, logical_id
        assert properties["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, logical_id
        assert properties["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
        assert properties["LifecycleConfiguration"]["Rules"], logical_id
        assert bucket["DeletionPolicy"] == "Retain", logical_id


def test_every_bucket_policy_denies_insecure_transport_and_old_tls(data_template: Template):
    policies = data_template.find_resources("AWS::S3::BucketPolicy")
    protected = {policy["Properties"]["Bucket"]["Ref"] for policy in policies.values()}
    assert protected == set(buckets(data_template))
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        denies = [s for s in statements if s["Effect"] == "Deny"]
        assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denies)
        assert any(s["Condition"] == {"NumericLessThan": {"s3:TlsVersion": 1.2}} for s in denies)


def test_short_lived_layers_expire(data_template: Template):
    for construct_id, days in (("Processed", 90), ("AthenaResults", 30)):
        rules = buckets(data_template)[bucket_logical_id(data_template, construct_id)]["Properties"][
            "LifecycleConfiguration"
        ]["Rules"]
        assert {"Id": "Expire", "ExpirationInDays": days, "Status": "Enabled"} in rules


def test_kms_key_rotates_and_is_retained(data_template: Template):
    data_template.has_resource(
        "AWS::KMS::Key",
        {"Properties": Match.object_like({"EnableKeyRotation": True}), "DeletionPolicy": "Retain"},
    )


def test_stack_is_termination_protected(synthesized):
    assert synthesized.platform.data.termination_protection is True


def test_glue_databases(data_template: Template):
    data_template.resource_count_is("AWS::Glue::Database", len(DATABASE_NAMES))
    for name in DATABASE_NAMES:
        data_template.has_resource_properties(
            "AWS::Glue::Database", {"DatabaseInput": Match.object_like({"Name": name})}
        )


def test_raw_crawler_is_encrypted_and_scoped_to_the_raw_bucket(data_template: Template):
    raw = bucket_logical_id(data_template, "Raw")
    data_template.has_resource_properties(
        "AWS::Glue::Crawler",
        {
            "DatabaseName": "engagement_raw",
            "CrawlerSecurityConfiguration": Match.any_value(),
            "Targets": {"S3Targets": [{"Path": {"Fn::Join": ["", ["s3://", {"Ref": raw}, "/customers/"]]}}]},
        },
    )
    data_template.has_resource_properties(
        "AWS::Glue::SecurityConfiguration",
        {
            "EncryptionConfiguration": {
                "S3Encryptions": [Match.object_like({"S3EncryptionMode": "SSE-KMS"})],
                "CloudWatchEncryption": Match.object_like({"CloudWatchEncryptionMode": "SSE-KMS"}),
                "JobBookmarksEncryption": Match.object_like({"JobBookmarksEncryptionMode": "CSE-KMS"}),
            }
        },
    )


def test_crawler_role_has_no_wildcard_actions(data_template: Template):
    [policy] = data_template.find_resources("AWS::IAM::Policy").values()
    actions = [a for s in policy["Properties"]["PolicyDocument"]["Statement"] for a in _as_list(s["Action"])]
    assert actions and not [a for a in actions if "*" in a]


def test_workgroup_encrypts_results_with_a_scan_cutoff_and_admits_ctas_locations(data_template: Template, synthesized):
    """Not enforced: Athena fails a CTAS naming external_location in an enforcing workgroup
    (tests/unit/test_local_athena_workgroups.py runs the pipeline's statements against it)."""
    athena_results = bucket_logical_id(data_template, "AthenaResults")
    data_template.has_resource_properties(
        "AWS::Athena::WorkGroup",
        {
            "WorkGroupConfiguration": Match.object_like(
                {
                    "EnforceWorkGroupConfiguration": False,
                    "BytesScannedCutoffPerQuery": 10 * 1024**3,
                    "ResultConfiguration": {
                        "OutputLocation": {
                            "Fn::Join": ["", ["s3://", {"Ref": athena_results}, "/query-results/"]]
                        },
                        "EncryptionConfiguration": {
                            "EncryptionOption": "SSE_KMS",
                            "KmsKey": {"Fn::GetAtt": [Match.string_like_regexp("^DataKey"), "Arn"]},
                        },
                    },
                }
            )
        },
    )


def test_every_ctas_of_the_pipeline_runs_in_the_synthesized_workgroup(data_template: Template):
    import sql
    from engagement.layout import BUCKETS, Buckets, sql_values
    from localcloud.athena_workgroups import check
    from localcloud.cloud import ACCOUNT, REGION
    from moto.athena.models import athena_backends

    [workgroup] = data_template.find_resources("AWS::Athena::WorkGroup").values()
    backend = athena_backends[ACCOUNT][REGION]
    backend.create_work_group("Synthesized", json.loads(json.dumps(workgroup["Properties"]["WorkGroupConfiguration"])),
                              "", [])
    values = sql_values(Buckets(**{name: f"bucket-{name}" for name in BUCKETS}), "r_1_abc")
    try:
        ctas = [statement for statement in (sql.load(path.stem) for path in sql.FOLDER.glob("*.sql"))
                if "external_location" in statement.sql]
        assert len(ctas) == 6
        for statement in ctas:
            check(statement.render(values), "Synthesized", ACCOUNT, REGION)
    finally:
        backend.work_groups.pop("Synthesized", None)


def test_prediction_cache_expires_items_recovers_to_a_point_in_time_and_uses_the_cmk(data_template: Template):
    data_template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": Match.object_like(
                {
                    # One item per customer and run: a run stages its own; readers ask for the published one.
                    "KeySchema": [{"AttributeName": "customer_id", "KeyType": "HASH"},
                                  {"AttributeName": "run_id", "KeyType": "RANGE"}],
                    "BillingMode": "PAY_PER_REQUEST",
                    "TimeToLiveSpecification": {"AttributeName": TTL_ATTRIBUTE, "Enabled": True},
                    "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                    "SSESpecification": {
                        "SSEEnabled": True,
                        "SSEType": "KMS",
                        "KMSMasterKeyId": {"Fn::GetAtt": [Match.string_like_regexp("^DataKey"), "Arn"]},
                    },
                    "DeletionProtectionEnabled": True,
                }
            ),
            "DeletionPolicy": "Retain",
        },
    )


def _as_list(value):
    return value if isinstance(value, list) else [value]


def glue_table(template: Template, name: str) -> dict:
    [table] = [
        t["Properties"]["TableInput"]
        for t in template.find_resources("AWS::Glue::Table").values()
        if t["Properties"]["TableInput"]["Name"] == name
    ]
    return table


def test_raw_table_columns_come_from_the_contract(data_template: Template):
    table = glue_table(data_template, "customers")
    columns = [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]
    assert columns == [(c.name, "string") for c in COLUMNS]
    assert table["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"].endswith("OpenCSVSerde")
    assert table["Parameters"]["skip.header.line.count"] == "1"


def test_bronze_table_is_typed_tokenized_and_partitioned_by_run(data_template: Template):
    table = glue_table(data_template, "customers_bronze")
    columns = {c["Name"]: c["Type"] for c in table["StorageDescriptor"]["Columns"]}
    assert not set(PII_COLUMNS) & set(columns)
    assert columns["email_token"] == "string" and columns["age"] == "bigint" and columns["churn_30_day"] == "boolean"
    assert len(columns) == len(COLUMNS)
    assert [(k["Name"], k["Type"]) for k in table["PartitionKeys"]] == [("run_id", "string")]
    assert table["Parameters"]["projection.enabled"] == "true"
    assert table["Parameters"]["projection.run_id.type"] == "injected"


def test_predictions_table_columns_match_what_inference_writes(data_template: Template):
    from engagement.predictions_schema import PREDICTION_COLUMNS

    table = glue_table(data_template, "predictions_by_run")
    assert [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]] == [
        (name, type_) for name, type_, _ in PREDICTION_COLUMNS
    ]
    # Registered partitions: the published view joins the pointer, which projection cannot serve.
    assert "projection.enabled" not in table["Parameters"]
    assert [(k["Name"], k["Type"]) for k in table["PartitionKeys"]] == [("run_id", "string")]


def test_the_published_pointer_is_a_table_the_views_join(data_template: Template):
    results = bucket_logical_id(data_template, "Results")
    table = glue_table(data_template, "published_run")
    storage = table["StorageDescriptor"]
    assert storage["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    assert storage["Location"] == {"Fn::Join": ["", ["s3://", {"Ref": results}, "/published/"]]}
    assert [c["Name"] for c in storage["Columns"]][0] == "run_id"


def test_glue_catalog_is_encrypted_with_the_data_key(data_template: Template):
    data_template.has_resource_properties("AWS::Glue::DataCatalogEncryptionSettings", {
        "DataCatalogEncryptionSettings": {
            "EncryptionAtRest": {"CatalogEncryptionMode": "SSE-KMS",
                                 "SseAwsKmsKeyId": {"Fn::GetAtt": [Match.string_like_regexp("^DataKey"), "Arn"]}},
            "ConnectionPasswordEncryption": {"ReturnConnectionPasswordEncrypted": True,
                                             "KmsKeyId": {"Fn::GetAtt": [Match.string_like_regexp("^DataKey"), "Arn"]}},
        }})


def test_personal_data_in_the_raw_bucket_is_erased_on_schedule(data_template: Template):
    """Uploads and quarantined rows hold full PII: they expire, and so do their old versions."""
    rules = buckets(data_template)[bucket_logical_id(data_template, "Raw")]["Properties"]["LifecycleConfiguration"][
        "Rules"]
    erase = {rule["Prefix"]: rule for rule in rules if rule.get("Prefix")}
    assert set(erase) == {"customers/", "quarantine/"}
    assert erase["customers/"]["ExpirationInDays"] == 90 and erase["quarantine/"]["ExpirationInDays"] == 30
    assert all(rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 7} for rule in erase.values())


def test_the_drift_baseline_and_published_outputs_never_expire(data_template: Template):
    """Validation reads the published run's profile from the results bucket: it must outlive any
    gap between successful runs (the processed bucket's 90-day expiry once locked every run out)."""
    for construct_id in ("Results", "Predictions", "Qa"):
        rules = buckets(data_template)[bucket_logical_id(data_template, construct_id)]["Properties"][
            "LifecycleConfiguration"]["Rules"]
        assert not [rule for rule in rules if "ExpirationInDays" in rule], construct_id


def test_run_ledger_is_encrypted_recoverable_and_retained(data_template: Template):
    data_template.has_resource("AWS::DynamoDB::Table", {
        "Properties": Match.object_like({
            "KeySchema": [{"AttributeName": "record_id", "KeyType": "HASH"}],
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": Match.object_like({"SSEType": "KMS"}),
            "DeletionProtectionEnabled": True,
        }),
        "DeletionPolicy": "Retain",
    })


def test_tokenization_key_is_a_generated_kms_encrypted_retained_secret(data_template: Template):
    data_template.has_resource(
        "AWS::SecretsManager::Secret",
        {
            "Properties": Match.object_like(
                {
                    "GenerateSecretString": Match.object_like({"PasswordLength": 64}),
                    "KmsKeyId": {"Fn::GetAtt": [Match.string_like_regexp("^DataKey"), "Arn"]},
                }
            ),
            "DeletionPolicy": "Retain",
        },
    )
