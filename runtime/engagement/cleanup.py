"""PreCleanup: remove whatever an earlier attempt of this run left behind. Idempotent."""

from engagement.runs import RunLocations


def clean_run(s3, glue, locations: RunLocations) -> dict:
    deleted_objects = 0
    for prefix in locations.staging_prefixes():
        paginator = s3.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=prefix.bucket, Prefix=prefix.key):
            doomed = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                      for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
            for start in range(0, len(doomed), 1000):
                s3.delete_objects(Bucket=prefix.bucket, Delete={"Objects": doomed[start:start + 1000], "Quiet": True})
            deleted_objects += len(doomed)
    dropped = []
    for database, table in locations.run_tables():
        try:
            glue.delete_table(DatabaseName=database, Name=table)
            dropped.append(f"{database}.{table}")
        except glue.exceptions.EntityNotFoundException:
            pass
    return {"run_id": locations.run_id, "deleted_objects": deleted_objects, "dropped_tables": dropped}
