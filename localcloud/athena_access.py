"""What Athena asks IAM for, as the principal that started the query: it reads and writes S3 and
the Glue catalog with the caller's permissions ("forward access sessions").

For a statement: `glue:GetTable` on every table and view it names (views expanded to what they
read; CREATE VIEW only resolves the names, reading no data); for each table's files, `s3:ListBucket` on the location as a folder (`s3:prefix` =
"path/"; each partition's folder too), `s3:GetObject` on every object and `kms:Decrypt` where the
bucket encrypts with a key; a CTAS lists its target location and writes under it
(`s3:PutObject`, `kms:GenerateDataKey`) and creates its table (`glue:CreateTable`); CREATE VIEW
creates or updates the view; DROP deletes the table; and every query writes its results to the
workgroup's output location; and it asks where each of those buckets is (GetBucketLocation).
"""

from collections.abc import Callable

import sqlglot
from sqlglot import exp

from localcloud.iam_requests import Call, Check, Requests

Authorize = Callable[[list[Check]], None]


class CallerAccess:
    """Checks one statement against the caller, reading the catalog and the store as they are."""

    def __init__(self, requests: Requests, glue, s3) -> None:
        self.requests, self.glue, self.s3 = requests, glue, s3

    def check(self, statement: str, database: str | None, output_location: str | None, authorize: Authorize) -> None:
        try:
            tree = sqlglot.parse_one(statement, read="trino")
        except sqlglot.errors.ParseError:
            return  # the engine refuses it with Athena's message
        checks: list[Check] = []
        seen: set[str] = set()
        view = isinstance(tree, exp.Create) and tree.kind == "VIEW"
        for name in _read_tables(tree, database):  # CREATE VIEW resolves what it names, reading no data
            checks += self._glue("GetTable", name) if view else self._read(name, seen)
        if isinstance(tree, exp.Create):
            checks += self._create(tree, database)
        elif isinstance(tree, exp.Drop):
            for target in tree.args.get("tables") or [tree.this]:
                checks += self._glue("DeleteTable", _qualified_name(target, database))
        if output_location:
            checks += self._writes(output_location, "query-results.csv", list_first=False)
        buckets = dict.fromkeys(c.resource.split(":::")[1].split("/")[0] for c in checks
                                if c.resource.startswith("arn:aws:s3:::"))
        # Athena first asks where each bucket it reads or writes is.
        located = [check for bucket in buckets for check in self.requests.s3(_get(bucket, "", {"location": ""}))]
        authorize(located + checks)

    def _read(self, name: str, seen: set[str]) -> list[Check]:
        if name in seen or "." not in name:
            return []
        seen.add(name)
        database, table = name.split(".", 1)
        entry = self._table(database, table)
        checks = self._glue("GetTable", name)
        if entry is None:
            return checks
        if entry.get("TableType") == "VIRTUAL_VIEW":
            try:
                view = sqlglot.parse_one(entry.get("ViewOriginalText") or entry["ViewExpandedText"], read="trino")
            except sqlglot.errors.ParseError:
                return checks
            for inner in _read_tables(view, database):
                checks += self._read(inner, seen)
            return checks
        keys = entry.get("PartitionKeys") or []
        projected = entry.get("Parameters", {}).get("projection.enabled") == "true"
        folders = [entry["StorageDescriptor"]["Location"]]
        if keys and projected:  # Athena computes each partition's folder and lists that, not the root
            folders = self._partition_folders(folders[0])
        elif keys:
            checks += self._glue("GetPartitions", name)
            folders = [p["StorageDescriptor"]["Location"] for page in
                       self.glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=table)
                       for p in page["Partitions"]]
        for folder in folders:
            checks += self._reads(folder)
        return checks

    def _partition_folders(self, location: str) -> list[str]:
        bucket, prefix = _split(location)
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/")
        return [f"s3://{bucket}/{common['Prefix']}" for page in pages for common in page.get("CommonPrefixes", [])]

    def _create(self, tree: exp.Create, database: str | None) -> list[Check]:
        name = _qualified_name(tree.this, database)
        if tree.kind == "VIEW":
            exists = self._table(*name.split(".", 1)) is not None
            return self._glue("UpdateTable" if exists else "CreateTable", name)
        location = next((prop.args["value"].name for prop in (tree.args.get("properties") or exp.Properties()).expressions
                         if isinstance(prop, exp.Property) and prop.this.name.lower() == "external_location"), None)
        return self._glue("CreateTable", name) + (self._writes(location, "data.parquet") if location else [])

    def _reads(self, location: str) -> list[Check]:
        bucket, prefix = _split(location)
        checks = [self._list(bucket, prefix)]
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                checks += [check for check in self.requests.s3(_get(bucket, item["Key"]))]
        return checks

    def _writes(self, location: str, file: str, list_first: bool = True) -> list[Check]:
        bucket, prefix = _split(location)
        put = self.requests.s3(_put(bucket, prefix + file))
        return ([self._list(bucket, prefix)] if list_first else []) + put

    def _list(self, bucket: str, prefix: str) -> Check:
        return self.requests.s3(_get(bucket, "", {"prefix": prefix}))[0]

    def _glue(self, operation: str, name: str) -> list[Check]:
        database, _, table = name.partition(".")
        return self.requests.json_glue("glue", operation, {"DatabaseName": database, "Name": table})

    def _table(self, database: str, table: str) -> dict | None:
        try:
            return self.glue.get_table(DatabaseName=database, Name=table)["Table"]
        except self.glue.exceptions.EntityNotFoundException:
            return None


def _read_tables(tree: exp.Expression, database: str | None) -> list[str]:
    """Every table a statement reads (not a WITH query's name, not a CTAS or view's own name)."""
    ctes = {cte.alias for cte in tree.find_all(exp.CTE)}
    target = tree.this if isinstance(tree, (exp.Create, exp.Drop)) else None
    body = tree.expression if isinstance(tree, exp.Create) else None if isinstance(tree, exp.Drop) else tree
    if body is None:
        return []
    names = []
    for table in body.find_all(exp.Table):
        if table is target or (not table.db and table.name in ctes):
            continue
        names.append(_qualified_name(table, database))
    return list(dict.fromkeys(names))


def _qualified_name(table: exp.Expression, database: str | None) -> str:
    db = table.db if isinstance(table, exp.Table) else ""
    return f"{db or database or 'default'}.{table.name}"


def _split(location: str) -> tuple[str, str]:
    bucket, _, prefix = location[len("s3://"):].partition("/")
    return bucket, prefix if not prefix or prefix.endswith("/") else prefix + "/"



def _get(bucket: str, key: str, query: dict | None = None) -> Call:
    return Call.internal("GET", f"/{bucket}/{key}", query)


def _put(bucket: str, key: str) -> Call:
    return Call.internal("PUT", f"/{bucket}/{key}")
