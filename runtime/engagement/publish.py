"""Publish: point `latest` at this run. The last stage; until it runs, readers see the previous run."""

import json
from datetime import UTC, datetime

from engagement.runs import RunLocations

LATEST_KEY = "latest.json"


def read_latest(s3, results_bucket: str) -> dict | None:
    try:
        return json.loads(s3.get_object(Bucket=results_bucket, Key=LATEST_KEY)["Body"].read())
    except s3.exceptions.NoSuchKey:
        return None


def publish(s3, locations: RunLocations, *, execution: str, summary: dict) -> dict:
    buckets = locations.buckets
    previous = read_latest(s3, buckets.results)
    copied = 0
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=buckets.knowledge_base, Prefix=f"runs/{locations.run_id}/"):
        for item in page.get("Contents", []):
            name = item["Key"].split(f"runs/{locations.run_id}/", 1)[1]
            s3.copy_object(Bucket=buckets.knowledge_base, Key=f"latest/{name}",
                           CopySource={"Bucket": buckets.knowledge_base, "Key": item["Key"]})
            copied += 1
    pointer = {
        "run_id": locations.run_id,
        "execution": execution,
        "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "previous_run_id": previous["run_id"] if previous else None,
        "bronze": locations.bronze,
        "predictions": locations.predictions,
        "tables": {"final_results": "engagement_analytics.final_results",
                   "human_review": "engagement_qa.human_review",
                   "predictions": "engagement_predictions.predictions"},
        "summary": summary,
    }
    s3.put_object(Bucket=buckets.results, Key=LATEST_KEY, Body=json.dumps(pointer, indent=2).encode(),
                  ContentType="application/json")
    return {"run_id": locations.run_id, "previous_run_id": pointer["previous_run_id"], "knowledge_base_documents": copied}
