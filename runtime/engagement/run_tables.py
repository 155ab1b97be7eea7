"""RegisterRunTables: the run's output folders become partitions of the by-run tables.

A registered partition is not published: the published views join the by-run tables with the
published pointer, so readers see a run only once PublishLatest names it. Registering again
(a retry) changes nothing.
"""

from engagement.layout import BY_RUN_TABLES, PLACES, RUN_TABLES, Run, Table

PARTITION_KEY = {"Name": "run_id", "Type": "string", "Comment": "Pipeline run (execution) that wrote the rows"}


def register_run_tables(glue, run: Run, outputs: list[str]) -> dict:
    unknown = sorted(set(outputs) - set(BY_RUN_TABLES))
    if unknown:
        raise ValueError(f"no by-run table for {unknown}; known: {sorted(BY_RUN_TABLES)}")
    registered = []
    for name in outputs:
        by_run = BY_RUN_TABLES[name]
        if name in RUN_TABLES:  # the by-run table takes its columns from the run's own table
            _ensure_table(glue, by_run, _get(glue, run.table(name)), root=_root(run, name))
        table = _get(glue, by_run.qualified)
        _add_partition(glue, by_run, table["StorageDescriptor"], run.run_id, location=run.uri(name))
        registered.append(by_run.qualified)
    return {"run_id": run.run_id, "partitions": registered}


def _root(run: Run, place: str) -> str:
    return f"s3://{getattr(run.buckets, PLACES[place].bucket)}/{PLACES[place].root}"


def _get(glue, qualified: str) -> dict:
    database, name = qualified.split(".")
    return glue.get_table(DatabaseName=database, Name=name)["Table"]


def _ensure_table(glue, table: Table, source: dict, *, root: str) -> None:
    storage = source["StorageDescriptor"]
    columns = [c for c in storage["Columns"] if c["Name"] != PARTITION_KEY["Name"]]
    table_input = {
        "Name": table.name, "TableType": "EXTERNAL_TABLE",
        "Description": "Every run's rows, one partition per run; the published view shows the published run's",
        "Parameters": {"classification": "parquet"},
        "PartitionKeys": [PARTITION_KEY],
        "StorageDescriptor": {**{k: v for k, v in storage.items() if k != "Location"},
                              "Columns": columns, "Location": root},
    }
    try:
        existing = glue.get_table(DatabaseName=table.database, Name=table.name)["Table"]
    except glue.exceptions.EntityNotFoundException:
        glue.create_table(DatabaseName=table.database, TableInput=table_input)
        return
    if existing["StorageDescriptor"]["Columns"] != columns:  # this run's columns differ: the table follows
        glue.update_table(DatabaseName=table.database, TableInput=table_input)


def _add_partition(glue, table: Table, storage: dict, run_id: str, *, location: str) -> None:
    result = glue.batch_create_partition(
        DatabaseName=table.database, TableName=table.name,
        PartitionInputList=[{"Values": [run_id], "StorageDescriptor": {**storage, "Location": location}}])
    errors = [e for e in result.get("Errors", []) if e["ErrorDetail"]["ErrorCode"] != "AlreadyExistsException"]
    if errors:
        raise RuntimeError(f"{table.qualified}: partition run_id={run_id} not registered: {errors}")
