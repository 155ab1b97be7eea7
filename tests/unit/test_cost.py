"""The cost model's arithmetic on hand-built cases, the run record's checks, and the Price List and
Cost Explorer readers against recorded response shapes (botocore's Stubber)."""

import json
import shutil
from datetime import date
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from cost import actual, model, refresh
from cost.inventory import Inventory, Resource
from cost.report import totals
from cost.usage import ASSUMPTIONS, RecordError, Usage, read_usage

PRICES = model.load_prices("us-east-1")
USAGE = Usage(rows=100_000, local_cpus=2, state_seconds={"Training": 65.0, "Ingest": 4.0}, state_entries=30,
              cache_items=100_000, bucket_bytes={"engagementdata-datalakeprocessedbucket0729fc44-abc": 30 * 1024**2})


def test_a_stage_measured_locally_is_billed_on_the_tasks_vcpus_with_start_up_and_the_minute_minimum():
    assert model.fargate_seconds(65.0, local_cpus=2, task_vcpus=2) == 65.0 + ASSUMPTIONS["fargate_startup_seconds"]
    assert model.fargate_seconds(65.0, local_cpus=2, task_vcpus=4) == 32.5 + ASSUMPTIONS["fargate_startup_seconds"]
    assert model.fargate_seconds(0.0, local_cpus=2, task_vcpus=16) == ASSUMPTIONS["fargate_minimum_seconds"]


def test_interface_endpoints_cost_per_az_hour_and_gateway_endpoints_nothing():
    ecr = {"Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, ".ecr.api"]]}
    endpoints = [Resource("Net", "Ecr", "AWS::EC2::VPCEndpoint",
                          {"VpcEndpointType": "Interface", "SubnetIds": ["a", "b"], "ServiceName": ecr}),
                 Resource("Net", "S3", "AWS::EC2::VPCEndpoint", {"VpcEndpointType": "Gateway"})]
    [line] = model.RULES["AWS::EC2::VPCEndpoint"](endpoints, Inventory(endpoints), USAGE, PRICES)
    assert line.item == "ecr.api interface endpoint" and line.fixed_month == pytest.approx(2 * 730 * 0.01)


def test_lambda_is_priced_per_gb_second_of_the_state_that_runs_it_on_its_architecture():
    function = Resource("Pipe", "IngestFn", "AWS::Lambda::Function", {"MemorySize": 2048, "Architectures": ["arm64"]})
    inventory = Inventory([function], lambda_states={"Ingest": "IngestFn"})
    [line] = model.RULES["AWS::Lambda::Function"]([function], inventory, USAGE, PRICES)
    assert line.per_run == pytest.approx(4.0 * 2 * PRICES["lambda_gb_second_arm"] + PRICES["lambda_request"])


def test_athena_bills_each_ctas_at_least_ten_megabytes():
    inventory = Inventory([], athena_states=["A", "B"])
    [line] = model.RULES["AWS::Athena::WorkGroup"]([], inventory, USAGE, PRICES)
    assert line.per_run == pytest.approx(2 * 10 * 1024**2 / 1024**4 * 5.0)  # bronze (10 MB) is at the minimum


def test_a_month_is_the_fixed_part_plus_the_runs_of_the_schedule():
    lines = [model.Line("A", "a", "", fixed_month=10.0), model.Line("B", "b", "", per_run=0.3)]
    assert totals(lines, "weekly").month == pytest.approx(10.0 + 0.3 * 52 / 12)
    assert totals(lines, "daily").month == pytest.approx(10.0 + 0.3 * 365 / 12)


def test_usage_scales_linearly_with_customers():
    scaled = USAGE.scaled(1_000_000)
    assert scaled.state_seconds == {"Training": 650.0, "Ingest": 40.0} and scaled.cache_items == 1_000_000
    assert scaled.bytes_of("DataLakeProcessedBucket0729FC44") == 300 * 1024**2


def test_the_run_record_must_be_a_successful_run_with_what_cost_needs(tmp_path):
    with pytest.raises(RecordError, match="not found: run the pipeline first"):
        read_usage(tmp_path / "nothing.json")
    record = tmp_path / "last-run.json"
    record.write_text(json.dumps({"status": "FAILED"}))
    with pytest.raises(RecordError, match="did not succeed"):
        read_usage(record)
    record.write_text(json.dumps({"status": "SUCCEEDED", "states": [], "output": {}}))
    with pytest.raises(RecordError, match="lacks machine, bucket_bytes"):
        read_usage(record)


def price_list_entry(usd: str) -> str:
    """One product as the Price List API returns it (a JSON document as text)."""
    return json.dumps({"product": {"attributes": {"usagetype": "Fargate-vCPU-Hours:perCPU"}}, "terms": {"OnDemand": {
        "T1": {"priceDimensions": {"D1": {"unit": "hours", "pricePerUnit": {"USD": usd}}}}}}})


def test_refresh_takes_the_price_list_price_and_keeps_what_it_does_not_return(tmp_path):
    shutil.copy(model.PRICES / "us-east-1.json", tmp_path / "us-east-1.json")
    document = json.loads((tmp_path / "us-east-1.json").read_text())
    queried = [key for key, price in document["prices"].items() if price.get("price_list")]
    pricing = boto3.client("pricing", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")
    with Stubber(pricing) as stub:
        for key in queried:
            found = [price_list_entry("0.0"), price_list_entry("0.04")] if key == "fargate_vcpu_hour_x86" else []
            query = document["prices"][key]["price_list"]
            stub.add_response("get_products", {"PriceList": found, "FormatVersion": "aws_v1"}, {
                "ServiceCode": query["service"], "MaxResults": 10, "Filters": [
                    {"Type": "TERM_MATCH", "Field": "usagetype", "Value": query["usagetype"]},
                    {"Type": "TERM_MATCH", "Field": "regionCode", "Value": "us-east-1"}]})
        lines = refresh.refresh(pricing, "us-east-1", today=date(2026, 12, 1), folder=tmp_path)
    refreshed = json.loads((tmp_path / "us-east-1.json").read_text())
    assert refreshed["as_of"] == "2026-12-01" and refreshed["prices"]["fargate_vcpu_hour_x86"]["usd"] == 0.04
    assert "fargate_vcpu_hour_x86: 0.04048 -> 0.04" in lines
    assert refreshed["prices"]["kms_key_month"]["usd"] == document["prices"]["kms_key_month"]["usd"]
    assert any(line.startswith("kms_key_month: not returned by the Price List API") for line in lines)
    assert any(line.startswith("bedrock_sonnet_input_token: no Price List filter") for line in lines)


def test_actual_spend_is_the_tagged_cost_by_service_over_every_page():
    ce = boto3.client("ce", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")

    def page(groups, token=None):
        return {"ResultsByTime": [{"TimePeriod": {"Start": "2026-10-24", "End": "2026-11-23"}, "Estimated": True,
                                   "Groups": [{"Keys": [k], "Metrics": {"UnblendedCost": {"Amount": v, "Unit": "USD"}}}
                                              for k, v in groups]}], **({"NextPageToken": token} if token else {})}
    request = {"TimePeriod": {"Start": "2026-10-24", "End": "2026-11-23"}, "Granularity": "MONTHLY",
               "Metrics": ["UnblendedCost"], "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}],
               "Filter": {"Tags": {"Key": "project", "Values": ["engagement-platform"]}}}
    with Stubber(ce) as stub:
        stub.add_response("get_cost_and_usage", page([("Amazon Virtual Private Cloud", "170.5")], "next"), request)
        stub.add_response("get_cost_and_usage", page([("AWS Key Management Service", "3.01"), ("Tax", "1.2")]),
                          {**request, "NextPageToken": "next"})
        spend = actual.actual_by_service(ce, today=date(2026, 11, 23))
    assert spend == {"VPC endpoints": 170.5, "KMS": 3.01, "Tax": 1.2}
    rows = actual.side_by_side({"VPC endpoints": 175.2}, spend)
    assert any("VPC endpoints" in row and "175.20" in row and "170.50" in row for row in rows)


def test_a_configuration_the_model_does_not_price_is_refused_by_name():
    table = Resource("Data", "Cache", "AWS::DynamoDB::Table", {"BillingMode": "PROVISIONED"})
    with pytest.raises(model.Unpriced, match="provisioned-capacity tables are not modelled.*Cache"):
        model.RULES["AWS::DynamoDB::Table"]([table], Inventory([table]), USAGE, PRICES)
    machine = Resource("Pipe", "Flow", "AWS::StepFunctions::StateMachine", {"StateMachineType": "EXPRESS"})
    with pytest.raises(model.Unpriced, match="Express state machines.*Flow"):
        model.RULES["AWS::StepFunctions::StateMachine"]([machine], Inventory([machine]), USAGE, PRICES)
