"""Athena on DuckDB: run the platform's Trino statements locally, with Athena's table semantics.

Statements are parsed as Trino with sqlglot and transpiled to DuckDB. What DuckDB cannot express
directly is done here: CTAS `WITH (external_location, partitioned_by)` writes Parquet under the
location (Hive-style partition folders) and registers the table; tables declared in the catalog
(`engagement.catalog.TABLES`) read their files at their location, run-partitioned ones with the
run id taken from the `run_id=` folder, as Athena partition projection does. S3 locations map to
local folders through an object store, so the same code serves tests (plain folders) and the
local cloud (folders synchronised with its S3).
"""

import zlib
from pathlib import Path
from typing import Protocol

import duckdb
import sqlglot
from sqlglot import exp

from engagement.catalog import RUN_PARTITION, TableSpec

DUCKDB_TYPES = {"string": "VARCHAR", "bigint": "BIGINT", "int": "INTEGER", "double": "DOUBLE",
                "boolean": "BOOLEAN", "date": "DATE", "timestamp": "TIMESTAMPTZ"}


class AthenaSqlError(Exception):
    """The statement failed, for a reason Athena would also give."""


class ObjectStore(Protocol):
    def folder(self, uri: str) -> Path:
        """A local folder holding the objects under the s3:// prefix (fetched for reading)."""

    def written(self, uri: str, folder: Path) -> None:
        """Files were written under `folder` for the s3:// prefix (publish them)."""


class FolderStore:
    """s3://bucket/key is root/bucket/key: for tests and single-process use."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, uri: str) -> Path:
        if not uri.startswith("s3://"):
            raise AthenaSqlError(f"not an S3 location: {uri}")
        path = self.root / uri[len("s3://"):]
        path.mkdir(parents=True, exist_ok=True)
        return path

    def written(self, uri: str, folder: Path) -> None:
        pass


class AthenaOnDuckDB:
    def __init__(self, store: ObjectStore, tables: tuple[TableSpec, ...], buckets: dict[str, str],
                 database: Path | None = None) -> None:
        self.store = store
        self.tables = {spec.qualified_name: spec for spec in tables}
        self.buckets = buckets
        self.ctas_tables: dict[str, str] = {}  # qualified name -> location
        # A database file keeps tables and views for later `localcloud sql` sessions.
        self.con = duckdb.connect(str(database) if database else ":memory:")
        self.con.create_function("crc32", _crc32, ["BLOB"], "BIGINT", side_effects=False)
        self.con.execute("SET TimeZone = 'UTC'")
        for database in {spec.database for spec in tables} | {
            "engagement_raw", "engagement_predictions", "engagement_qa", "engagement_analytics"
        }:
            self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {database}")

    def close(self) -> None:
        self.con.close()

    def columns(self, statement: str) -> list[str]:
        """Column names of a query's result (for printing)."""
        tree = sqlglot.parse_one(statement, read="trino")
        return [d[0] for d in self.con.execute(tree.sql(dialect="duckdb")).description]

    def execute(self, statement: str) -> list[tuple]:
        try:
            tree = sqlglot.parse_one(statement, read="trino")
        except sqlglot.errors.ParseError as error:
            raise AthenaSqlError(f"cannot parse as Trino SQL: {error}") from error
        self._refresh_catalog_tables()
        try:
            if isinstance(tree, exp.Create) and tree.kind == "TABLE" and tree.expression is not None:
                return self._create_table_as(tree)
            if isinstance(tree, exp.Drop):
                return self._drop(tree)
            return self.con.execute(tree.sql(dialect="duckdb")).fetchall()
        except duckdb.Error as error:
            raise AthenaSqlError(str(error).splitlines()[0]) from error

    def _create_table_as(self, tree: exp.Create) -> list[tuple]:
        name = tree.this.sql(dialect="duckdb")
        properties = _properties(tree)
        location = properties.get("external_location")
        if not location:
            raise AthenaSqlError(f"{name}: CTAS needs external_location (the workgroup owns no default location)")
        if (properties.get("format") or "PARQUET").upper() != "PARQUET":
            raise AthenaSqlError(f"{name}: only PARQUET CTAS is supported here")
        if name in self.ctas_tables or self._exists(name):
            raise AthenaSqlError(f"Table {name} already exists")
        folder = self.store.folder(location)
        if any(folder.rglob("*.parquet")):
            raise AthenaSqlError(f"{name}: external_location {location} is not empty")
        select = tree.expression.sql(dialect="duckdb")
        partitions = properties.get("partitioned_by") or []
        if partitions:
            columns = ", ".join(partitions)
            self.con.execute(f"COPY ({select}) TO '{folder}' (FORMAT parquet, PARTITION_BY ({columns}), "
                             "OVERWRITE_OR_IGNORE true)")
        else:
            self.con.execute(f"COPY ({select}) TO '{folder / 'data.parquet'}' (FORMAT parquet)")
        self.store.written(location, folder)
        self.ctas_tables[name] = location
        self._view_over(name, folder, hive=bool(partitions))
        rows = self.con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
        return [(rows,)]

    def _drop(self, tree: exp.Drop) -> list[tuple]:
        name = tree.this.sql(dialect="duckdb")
        kind = "VIEW"
        if tree.args.get("exists"):
            self.con.execute(f"DROP VIEW IF EXISTS {name}")
        elif self._exists(name):
            self.con.execute(f"DROP {kind} {name}")
        else:
            raise AthenaSqlError(f"Table {name} does not exist")
        self.ctas_tables.pop(name, None)
        return []

    def _exists(self, name: str) -> bool:
        schema, table = name.split(".")
        found = self.con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?", [schema, table]
        ).fetchone()[0]
        return bool(found)

    def _refresh_catalog_tables(self) -> None:
        """Point every declared table at the files now under its location."""
        for spec in self.tables.values():
            folder = self.store.folder(f"s3://{self.buckets[spec.bucket]}/{spec.prefix}")
            pattern = "*/*.parquet" if spec.run_partitioned else ("*.parquet" if spec.format == "parquet" else "*.csv")
            if spec.format == "parquet" and any(folder.glob(pattern)):
                self._view_over(spec.qualified_name, folder, hive=spec.run_partitioned, pattern=pattern)
            elif spec.format == "csv" and any(folder.glob(pattern)):
                self.con.execute(f"CREATE OR REPLACE VIEW {spec.qualified_name} AS SELECT * FROM "
                                 f"read_csv('{folder}/{pattern}', header = true, all_varchar = true)")
            else:
                self._empty_table(spec)

    def _view_over(self, name: str, folder: Path, *, hive: bool, pattern: str | None = None) -> None:
        pattern = pattern or ("**/*.parquet" if hive else "*.parquet")
        self.con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet('{folder}/{pattern}', "
                         f"hive_partitioning = {str(hive).lower()}, union_by_name = true)")

    def _empty_table(self, spec: TableSpec) -> None:
        columns = list(spec.columns) + ([RUN_PARTITION] if spec.run_partitioned else [])
        typed = ", ".join(f"CAST(NULL AS {DUCKDB_TYPES[t]}) AS {n}" for n, t, _ in columns)
        self.con.execute(f"CREATE OR REPLACE VIEW {spec.qualified_name} AS SELECT {typed} WHERE false")


def _properties(tree: exp.Create) -> dict:
    found: dict = {}
    properties = tree.args.get("properties")
    for prop in properties.expressions if properties else []:
        if isinstance(prop, exp.FileFormatProperty):
            found["format"] = prop.this.name
        elif isinstance(prop, exp.PartitionedByProperty):
            found["partitioned_by"] = [e.name for e in prop.this.expressions]
        elif isinstance(prop, exp.Property):
            found[prop.this.name.lower()] = prop.args["value"].name
    return found


def _crc32(value: bytes) -> int:
    return zlib.crc32(value)
