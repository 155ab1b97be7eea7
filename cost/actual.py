"""`python -m cost --actual`: what the deployment cost, from Cost Explorer, beside the estimate.

Every stack carries the cost-allocation tag COST_TAG (stacks/platform.py); once the tag is
activated in Billing, Cost Explorer groups the tagged spend by service.
"""

from datetime import date, timedelta

from deployment.tags import COST_TAG

# Cost Explorer's service names for the estimate's lines
SERVICES = {
    "Amazon Virtual Private Cloud": "VPC endpoints", "AWS Key Management Service": "KMS",
    "AWS Secrets Manager": "Secrets Manager", "AmazonCloudWatch": "CloudWatch", "AWS Lambda": "Lambda",
    "Amazon Elastic Container Service": "Fargate", "AWS Step Functions": "Step Functions", "Amazon Athena": "Athena",
    "Amazon DynamoDB": "DynamoDB", "Amazon Simple Storage Service": "S3", "Amazon Bedrock": "Bedrock",
    "Amazon API Gateway": "API Gateway + Lambda", "Amazon Simple Notification Service": "SNS",
}


def actual_by_service(cost_explorer, days: int = 30, today: date | None = None) -> dict[str, float]:
    """The tagged spend of the last `days` days, by the estimate's service names (others as Cost Explorer
    names them)."""
    end = today or date.today()
    start = end - timedelta(days=days)
    spend: dict[str, float] = {}
    token = None
    while True:
        request = {"TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()}, "Granularity": "MONTHLY",
                   "Metrics": ["UnblendedCost"], "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}],
                   "Filter": {"Tags": {"Key": COST_TAG[0], "Values": [COST_TAG[1]]}}}
        response = cost_explorer.get_cost_and_usage(**request, **({"NextPageToken": token} if token else {}))
        for period in response["ResultsByTime"]:
            for group in period["Groups"]:
                service = SERVICES.get(group["Keys"][0], group["Keys"][0])
                spend[service] = spend.get(service, 0.0) + float(group["Metrics"]["UnblendedCost"]["Amount"])
        token = response.get("NextPageToken")
        if not token:
            return spend


def side_by_side(estimate: dict[str, float], actual: dict[str, float]) -> list[str]:
    rows = [f"| {'service':<24} | {'estimate $/month':>16} | {'actual $ (30 days)':>18} |",
            f"|{'-' * 26}|{'-' * 18}|{'-' * 20}|"]
    for service in sorted(set(estimate) | set(actual)):
        rows.append(f"| {service:<24} | {estimate.get(service, 0.0):>16.2f} | {actual.get(service, 0.0):>18.2f} |")
    return rows
