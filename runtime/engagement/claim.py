"""ClaimRun: the first stage. Take the run lock, and make sure the run id is new, before any write.

The run ledger (a DynamoDB table) holds one lock item and one record per run id ever claimed.
A run id is refused when another execution claimed it or when anything of it exists already
(objects under its places, its tables): nothing a run does can then touch another run's data,
and nothing is ever deleted here. The state machine releases the lock in every terminal path; a
lock whose execution was stopped from outside expires after the lease (the machine's timeout).
"""

from datetime import UTC, datetime

from engagement.layout import RUN_TABLES, Run
from engagement.s3uri import S3Uri

LOCK_RECORD = "lock"


class RunLocked(Exception):
    """Another execution holds the run lock."""


class RunIdInUse(Exception):
    """The run id was claimed before, or data with it exists."""


class SourceMissing(Exception):
    """The upload to ingest is not there."""


def claim_run(s3, glue, ledger, run: Run, *, execution: str, source_key: str, lease_seconds: int,
              now: float) -> dict:
    source = S3Uri(run.buckets.raw, source_key)
    if not object_exists(s3, source):
        raise SourceMissing(f"{source} not found: upload the customers CSV there, or pass another "
                            '"source_key" in the execution input')
    acquire_lock(ledger, run_id=run.run_id, execution=execution, lease_seconds=lease_seconds, now=now)
    record_run(ledger, run_id=run.run_id, execution=execution, now=now)
    found = existing_data(s3, glue, run)
    if found:
        raise RunIdInUse(f"run id {run.run_id} already has data ({', '.join(found[:3])}"
                         f"{', …' if len(found) > 3 else ''}); start the execution under another name")
    return {"run_id": run.run_id, "source_key": source_key}


def acquire_lock(ledger, *, run_id: str, execution: str, lease_seconds: int, now: float) -> None:
    """Conditional put: free, already ours (a retry of this stage), or left by a stopped execution."""
    item = {"record_id": LOCK_RECORD, "execution": execution, "run_id": run_id, "acquired_at": _iso(now),
            "lease_expires_at": int(now + lease_seconds)}
    try:
        ledger.put_item(Item=item, ConditionExpression="attribute_not_exists(record_id) OR #e = :e OR "
                                                       "lease_expires_at < :now",
                        ExpressionAttributeNames={"#e": "execution"},
                        ExpressionAttributeValues={":e": execution, ":now": int(now)})
    except ledger.meta.client.exceptions.ConditionalCheckFailedException:
        holder = ledger.get_item(Key={"record_id": LOCK_RECORD}, ConsistentRead=True).get("Item", {})
        raise RunLocked(f"execution {holder.get('execution')} (run {holder.get('run_id')}) has held the run lock "
                        f"since {holder.get('acquired_at')}; it is released when that execution ends, or at "
                        f"{_iso(int(holder.get('lease_expires_at', now)))} if it was stopped") from None


def record_run(ledger, *, run_id: str, execution: str, now: float) -> None:
    try:
        ledger.put_item(Item={"record_id": f"run#{run_id}", "execution": execution, "claimed_at": _iso(now)},
                        ConditionExpression="attribute_not_exists(record_id) OR #e = :e",
                        ExpressionAttributeNames={"#e": "execution"}, ExpressionAttributeValues={":e": execution})
    except ledger.meta.client.exceptions.ConditionalCheckFailedException:
        earlier = ledger.get_item(Key={"record_id": f"run#{run_id}"}, ConsistentRead=True).get("Item", {})
        raise RunIdInUse(f"run id {run_id} was claimed by execution {earlier.get('execution')} at "
                         f"{earlier.get('claimed_at')}; start the execution under another name") from None


def existing_data(s3, glue, run: Run) -> list[str]:
    """What already exists of the run: objects under its places, its tables."""
    found = [str(location) for location in run.owned_locations() if object_exists(s3, location)]
    for name in RUN_TABLES:
        database, table = run.table(name).split(".")
        try:
            glue.get_table(DatabaseName=database, Name=table)
            found.append(f"table {database}.{table}")
        except glue.exceptions.EntityNotFoundException:
            pass
    return found


def object_exists(s3, location: S3Uri) -> bool:
    """By listing, which needs only list access to the place: a missing key then reads as missing
    rather than as AccessDenied (S3 answers 403 for a missing key to a caller who cannot list)."""
    return bool(s3.list_objects_v2(Bucket=location.bucket, Prefix=location.key, MaxKeys=1).get("KeyCount"))


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")
