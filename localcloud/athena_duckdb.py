"""Athena on DuckDB: run the platform's Trino statements locally, with Athena's table semantics.

The Glue Data Catalog is the source of truth, as it is for Athena; DuckDB is only the engine.
Before each statement the DuckDB schemas are brought in line with the catalog: an external table
becomes a view over the files now at its location (run-partitioned tables take `run_id` from the
`run_id=` folders, as Athena partition projection does), a catalog view becomes a DuckDB view,
and whatever the catalog no longer has (a table another stage dropped through the Glue API) is
dropped. Statements are parsed as Trino with sqlglot and transpiled to DuckDB; DDL updates the
catalog: CTAS `WITH (external_location, partitioned_by)` writes Parquet under the location
(Hive-style partition folders) and registers an external table, CREATE VIEW registers a view
(`ViewOriginalText` holds the Trino text, `ViewExpandedText` the DuckDB text), DROP removes the
entry. Partitions follow the table: projected (`projection.enabled`) partitions are the `run_id=`
folders at the location; otherwise the table has the partitions registered in the catalog, each
with its own location. JSON tables (one object per line) read their declared columns.

Queries run side by side, each on its own DuckDB cursor, and a running one stops when
interrupted (StopQueryExecution); catalog syncing and DDL take turns. The engine takes only what
Athena would: one statement per call; views in the catalog must be a
single query; no table functions (Athena has none that read files). DuckDB itself may touch
files only under the store's root, so nothing a statement or a catalog entry says can read or
write elsewhere. S3 locations map to local folders through an object store, so the same code
serves tests (plain folders) and the local cloud (folders mirrored from its S3).
"""

import threading
import zlib
from pathlib import Path
from typing import Protocol

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.optimizer.scope import Scope, traverse_scope

HIVE_TO_DUCKDB = {"string": "VARCHAR", "bigint": "BIGINT", "int": "INTEGER", "double": "DOUBLE", "float": "FLOAT",
                  "boolean": "BOOLEAN", "date": "DATE", "timestamp": "TIMESTAMPTZ"}
DUCKDB_TO_HIVE = {"VARCHAR": "string", "BIGINT": "bigint", "INTEGER": "int", "SMALLINT": "smallint",
                  "TINYINT": "tinyint", "DOUBLE": "double", "FLOAT": "float", "BOOLEAN": "boolean", "DATE": "date",
                  "TIMESTAMP": "timestamp", "TIMESTAMP WITH TIME ZONE": "timestamp"}
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
DEFAULT_DATABASE = "default"  # what a table named without a database reads, as on Athena


class AthenaSqlError(Exception):
    """The statement failed, for a reason Athena would also give."""


class ObjectStore(Protocol):
    root: Path  # every folder the store hands out is under it

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
        path = inside(self.root, uri[len("s3://"):])
        path.mkdir(parents=True, exist_ok=True)
        return path

    def written(self, uri: str, folder: Path) -> None:
        pass


class GlueCatalog:
    """The part of the Glue API the engine needs; entries are Glue `Table` / `TableInput` dicts."""

    def __init__(self, glue) -> None:
        self.glue = glue

    def databases(self) -> list[str]:
        return [d["Name"] for page in self.glue.get_paginator("get_databases").paginate() for d in page["DatabaseList"]]

    def tables(self) -> list[dict]:
        return [table for database in self.databases()
                for page in self.glue.get_paginator("get_tables").paginate(DatabaseName=database)
                for table in page["TableList"]]

    def partitions(self, database: str, table: str) -> list[tuple[tuple[str, ...], str]]:
        """(values, location) of each registered partition."""
        return sorted((tuple(p["Values"]), p["StorageDescriptor"]["Location"])
                      for page in self.glue.get_paginator("get_partitions").paginate(DatabaseName=database,
                                                                                     TableName=table)
                      for p in page["Partitions"])

    def put(self, database: str, table_input: dict) -> None:
        try:
            self.glue.create_table(DatabaseName=database, TableInput=table_input)
        except self.glue.exceptions.AlreadyExistsException:
            self.glue.update_table(DatabaseName=database, TableInput=table_input)

    def delete(self, database: str, name: str) -> None:
        self.glue.delete_table(DatabaseName=database, Name=name)


class AthenaOnDuckDB:
    """`catalog=None` opens a database file left by a run for queries only (`localcloud sql`)."""

    def __init__(self, store: ObjectStore, catalog: GlueCatalog | None, database: Path | None = None) -> None:
        self.store = store
        self.catalog = catalog
        self._synced: dict[str, tuple] = {}  # qualified name -> what the DuckDB view was built from
        self._turns = threading.Lock()  # catalog sync and DDL, one at a time; queries run outside it
        self._running: dict[str, duckdb.DuckDBPyConnection] = {}  # query id -> its cursor
        self.con = duckdb.connect(str(database) if database else ":memory:")
        self.con.create_function("crc32", _crc32, ["BLOB"], "BIGINT", side_effects=False)
        self.con.execute("SET TimeZone = 'UTC'")
        # Files only under the store's root (the S3 mirror), as Athena reaches only S3.
        root = store.root.resolve()
        root.mkdir(parents=True, exist_ok=True)
        self.con.execute(f"SET temp_directory = '{root / '.duckdb-tmp'}'")
        self.con.execute(f"SET allowed_directories = ['{root}']")
        self.con.execute("SET enable_external_access = false")
        self.con.execute("SET python_enable_replacements = false")  # no Python variable is a table either

    def close(self) -> None:
        self.con.close()

    def execute(self, statement: str) -> list[tuple]:
        return self.result(statement)[1]

    def result(self, statement: str, database: str | None = None,
               query_id: str | None = None) -> tuple[list[tuple[str, str]], list[tuple]]:
        """(columns as (name, Athena type), rows) of one statement; `database` qualifies table
        names that name none, as Athena's QueryExecutionContext does; `query_id` names the query
        for `interrupt`."""
        tree = _one_statement(statement, dialect="trino", what="the statement")
        ddl = isinstance(tree, (exp.Create, exp.Drop))
        if not ddl and not isinstance(tree, (exp.Query, exp.Describe)):
            raise AthenaSqlError(f"unsupported statement here: {statement.strip().splitlines()[0][:80]}")
        if self.catalog is None and ddl:
            raise AthenaSqlError("no catalog: this session answers queries only (start a run for DDL)")
        read = _qualify(tree, database or DEFAULT_DATABASE)
        key = query_id or f"unnamed-{threading.get_ident()}"
        try:
            with self._turns:
                if self.catalog is not None:
                    self._sync()
                self._check_exist(read)
                if ddl:
                    return [], self._ddl(tree, statement)
                cursor = self._running[key] = self.con.cursor()
            return self._query(cursor, tree.sql(dialect="duckdb"))
        except duckdb.Error as error:
            raise AthenaSqlError(str(error).splitlines()[0]) from error
        finally:
            self._running.pop(key, None)

    def interrupt(self, query_id: str) -> bool:
        """Stop a running query (it fails with `Query cancelled`); False if none runs by that id."""
        cursor = self._running.get(query_id)
        if cursor is not None:
            cursor.interrupt()
        return cursor is not None

    @staticmethod
    def _query(cursor: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[tuple[str, str]], list[tuple]]:
        try:
            rows = cursor.execute(sql).fetchall()
            return [(name, _hive_type(str(kind))) for name, kind, *_ in cursor.description], rows
        except duckdb.InterruptException:
            raise AthenaSqlError("Query cancelled: stopped by StopQueryExecution") from None
        finally:
            cursor.close()

    def _ddl(self, tree: exp.Expression, statement: str) -> list[tuple]:
        if isinstance(tree, exp.Create) and tree.kind == "TABLE" and tree.expression is not None:
            return self._create_table_as(tree)
        if isinstance(tree, exp.Create) and tree.kind == "VIEW":
            return self._create_view(tree)
        if isinstance(tree, exp.Drop):
            return self._drop(tree)
        raise AthenaSqlError(f"unsupported statement here: {statement.strip().splitlines()[0][:80]}")

    # --- catalog -> DuckDB --------------------------------------------------------------------

    def _sync(self) -> None:
        for database in self.catalog.databases():
            self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {database}")
        entries = {f"{t['DatabaseName']}.{t['Name']}": t for t in self.catalog.tables()}
        for name in [n for n in self._synced if n not in entries]:
            self.con.execute(f"DROP VIEW IF EXISTS {name}")
            del self._synced[name]
        views = []
        for name, entry in entries.items():
            if entry.get("TableType") == "VIRTUAL_VIEW":
                views.append((name, entry))
            else:
                self._sync_external(name, entry)
        pending = [(n, e) for n, e in views if self._synced.get(n) != ("view", e["ViewExpandedText"])]
        for name, entry in pending:  # catalog entries come from anyone who can call Glue
            tree = _one_statement(entry["ViewExpandedText"], dialect="duckdb", what=f"catalog view {name}")
            if not isinstance(tree, exp.Query):
                raise AthenaSqlError(f"catalog view {name} is not a single query")
        while pending:  # a view may read another view: create each once what it reads exists
            failed = []
            for name, entry in pending:
                try:
                    self.con.execute(f"CREATE OR REPLACE VIEW {name} AS {entry['ViewExpandedText']}")
                    self._synced[name] = ("view", entry["ViewExpandedText"])
                except duckdb.CatalogException:
                    failed.append((name, entry))
            if len(failed) == len(pending):
                raise AthenaSqlError(f"catalog views read tables that do not exist: {[n for n, _ in failed]}")
            pending = failed

    def _sync_external(self, name: str, entry: dict) -> None:
        storage = entry["StorageDescriptor"]
        serde = storage.get("SerdeInfo", {}).get("SerializationLibrary", "").lower()
        kind = "csv" if "csv" in serde else "json" if "json" in serde else "parquet"
        keys = entry.get("PartitionKeys") or []
        if keys and entry.get("Parameters", {}).get("projection.enabled") != "true":
            partitions = self.catalog.partitions(*name.split("."))
            source = ("registered", tuple(partitions), tuple(self.store.folder(loc).stat().st_mtime_ns
                                                             for _, loc in partitions))
            if self._synced.get(name) != source:
                self._view_over_partitions(name, storage["Columns"], keys, partitions)
                self._synced[name] = source
            return
        folder = self.store.folder(storage["Location"])
        pattern = {"csv": "*.csv", "json": "*", "parquet": _parquet_files(bool(keys))}[kind]
        has_files = any(path.is_file() for path in folder.glob(pattern))
        source = (storage["Location"], bool(keys), kind, has_files)
        if self._synced.get(name) == source:
            return  # the view globs its folder at query time: new files need no new view
        if not has_files:
            self.con.execute(f"CREATE OR REPLACE VIEW {name} AS {_empty(storage['Columns'] + keys)}")
        elif kind == "csv":
            self.con.execute(f"CREATE OR REPLACE VIEW {name} AS {_csv_select(folder / pattern, entry)}")
        elif kind == "json":
            columns = ", ".join(f"'{c['Name']}': '{_duckdb_type(c['Type'])}'" for c in storage["Columns"])
            self.con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_json('{folder}/{pattern}', "
                             f"format = 'newline_delimited', columns = {{{columns}}})")
        else:
            self._view_over(name, folder, partitioned=bool(keys))
        self._synced[name] = source

    def _view_over_partitions(self, name: str, columns: list[dict], keys: list[dict], partitions) -> None:
        """A registered partition's files hold the declared columns they have (others read as
        NULL, as Athena reads Parquet by name); the partition's values come from the catalog."""
        parts = []
        for values, location in partitions:
            files = f"{self.store.folder(location)}/*.parquet"
            present = {row[0] for row in self.con.execute(f"DESCRIBE SELECT * FROM read_parquet('{files}')").fetchall()}
            selected = [c["Name"] if c["Name"] in present else f"CAST(NULL AS {_duckdb_type(c['Type'])}) AS {c['Name']}"
                        for c in columns]
            selected += [f"CAST('{value}' AS {_duckdb_type(key['Type'])}) AS {key['Name']}"
                         for key, value in zip(keys, values)]
            parts.append(f"SELECT {', '.join(selected)} FROM read_parquet('{files}')")
        body = " UNION ALL ".join(parts) if parts else _empty(columns + keys)
        self.con.execute(f"CREATE OR REPLACE VIEW {name} AS {body}")

    def _view_over(self, name: str, folder: Path, *, partitioned: bool) -> None:
        # Partition values stay text, as the catalog declares them (a run named 20261122 is no number).
        self.con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet("
                         f"'{folder}/{_parquet_files(partitioned)}', hive_partitioning = {str(partitioned).lower()}, "
                         "hive_types_autocast = false, union_by_name = true)")

    # --- DDL -> files, catalog and DuckDB ---------------------------------------------------------

    def _create_table_as(self, tree: exp.Create) -> list[tuple]:
        database, table = _qualified(tree.this)
        name = f"{database}.{table}"
        properties = _properties(tree)
        location = properties.get("external_location")
        if not location:
            raise AthenaSqlError(f"{name}: CTAS needs external_location (the workgroup owns no default location)")
        if (properties.get("format") or "PARQUET").upper() != "PARQUET":
            raise AthenaSqlError(f"{name}: only PARQUET CTAS is supported here")
        if self._exists(name):
            raise AthenaSqlError(f"Table {name} already exists")
        folder = self.store.folder(location)
        if any(folder.rglob("*.parquet")):
            raise AthenaSqlError(f"{name}: external_location {location} is not empty")
        select = tree.expression.sql(dialect="duckdb")
        partitions = properties.get("partitioned_by") or []
        if partitions:
            self.con.execute(f"COPY ({select}) TO '{folder}' (FORMAT parquet, PARTITION_BY ({', '.join(partitions)}), "
                             "OVERWRITE_OR_IGNORE true)")
        else:
            self.con.execute(f"COPY ({select}) TO '{folder / 'data.parquet'}' (FORMAT parquet)")
        self.store.written(location, folder)
        self._view_over(name, folder, partitioned=bool(partitions))
        self._synced[name] = (location, bool(partitions), False, True)
        columns = self._describe(f"SELECT * FROM {name}")
        self.catalog.put(database, {
            "Name": table, "TableType": "EXTERNAL_TABLE",
            "Parameters": {"classification": "parquet", "has_encrypted_data": "false"},
            "PartitionKeys": [c for c in columns if c["Name"] in partitions],
            "StorageDescriptor": {"Columns": [c for c in columns if c["Name"] not in partitions],
                                  "Location": location, "SerdeInfo": {"SerializationLibrary": PARQUET_SERDE}},
        })
        return [(self.con.execute(f"SELECT count(*) FROM {name}").fetchone()[0],)]

    def _create_view(self, tree: exp.Create) -> list[tuple]:
        database, view = _qualified(tree.this)
        name = f"{database}.{view}"
        if not tree.args.get("replace") and self._exists(name):
            raise AthenaSqlError(f"View {name} already exists")
        select = tree.expression.sql(dialect="duckdb")
        self.con.execute(f"CREATE OR REPLACE VIEW {name} AS {select}")
        self.catalog.put(database, {
            "Name": view, "TableType": "VIRTUAL_VIEW", "Parameters": {"presto_view": "true"},
            "ViewOriginalText": tree.expression.sql(dialect="trino"), "ViewExpandedText": select,
            "StorageDescriptor": {"Columns": self._describe(f"SELECT * FROM {name}")},
        })
        self._synced[name] = ("view", select)
        return []

    def _drop(self, tree: exp.Drop) -> list[tuple]:
        for target in tree.args.get("tables") or [tree.this]:  # sqlglot keeps DROP TABLE's names in `tables`
            database, table = _qualified(target)
            name = f"{database}.{table}"
            if self._exists(name):
                self.catalog.delete(database, table)
                self.con.execute(f"DROP VIEW IF EXISTS {name}")
                self._synced.pop(name, None)
            elif not tree.args.get("exists"):
                raise AthenaSqlError(f"Table {name} does not exist")
        return []

    def _exists(self, name: str) -> bool:
        return name in self._synced

    def _check_exist(self, tables: list[exp.Table]) -> None:
        """Every table read is in the catalog, as on Athena (DuckDB would read an unknown name as
        a file path: a replacement scan)."""
        known = set(self.con.execute("SELECT lower(table_schema), lower(table_name) FROM information_schema.tables")
                    .fetchall())
        for table in tables:
            if (table.db.lower(), table.name.lower()) not in known:
                raise AthenaSqlError(f"TABLE_NOT_FOUND: Table 'awsdatacatalog.{table.db}.{table.name}' does not exist")

    def _describe(self, query: str) -> list[dict]:
        return [{"Name": column, "Type": _hive_type(kind)}
                for column, kind, *_ in self.con.execute(f"DESCRIBE {query}").fetchall()]


def _csv_select(files: Path, entry: dict) -> str:
    """Read as OpenCSVSerde does: the SerDe's separator, quote and escape, the declared columns by
    position (a short row pads with NULL, extra fields are dropped), every file alike."""
    storage = entry["StorageDescriptor"]
    serde = {"separatorChar": ",", "quoteChar": '"', "escapeChar": "\\", **storage["SerdeInfo"].get("Parameters", {})}
    header = entry.get("Parameters", {}).get("skip.header.line.count", "0") != "0"
    columns = ", ".join(f"'{c['Name']}': 'VARCHAR'" for c in storage["Columns"])
    typed = ", ".join(c["Name"] if c["Type"] == "string" else f"TRY_CAST({c['Name']} AS {_duckdb_type(c['Type'])}) "
                      f"AS {c['Name']}" for c in storage["Columns"])
    quoted = {key: value.replace("'", "''") for key, value in serde.items()}
    return (f"SELECT {typed} FROM read_csv('{files}', header = {str(header).lower()}, auto_detect = false, "
            f"delim = '{quoted['separatorChar']}', quote = '{quoted['quoteChar']}', "
            f"escape = '{quoted['escapeChar']}', columns = {{{columns}}}, null_padding = true, "
            "strict_mode = false, parallel = false)")


def _empty(columns: list[dict]) -> str:
    typed = ", ".join(f"CAST(NULL AS {_duckdb_type(c['Type'])}) AS {c['Name']}" for c in columns)
    return f"SELECT {typed} WHERE false"


def _duckdb_type(hive_type: str) -> str:
    return HIVE_TO_DUCKDB.get(hive_type, "VARCHAR")


def _one_statement(text: str, *, dialect: str, what: str) -> exp.Expression:
    """One parsed statement, with no table functions (Athena has none that read files)."""
    try:
        trees = [tree for tree in sqlglot.parse(text, read=dialect) if tree is not None]
    except sqlglot.errors.ParseError as error:
        raise AthenaSqlError(f"cannot parse {what} as {dialect.capitalize()} SQL: {error}") from error
    if len(trees) != 1:
        raise AthenaSqlError(f"{what} holds {len(trees)} statements; one at a time")
    functions = [table.this.sql() for table in trees[0].find_all(exp.Table)
                 if table.this is not None and not isinstance(table.this, exp.Identifier)]
    if functions:
        raise AthenaSqlError(f"{what} calls table functions ({', '.join(functions)[:120]}); read tables instead")
    return trees[0]


def inside(root: Path, relative: str) -> Path:
    """root/relative, refusing any path that resolves outside root (a key with `..`)."""
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()):
        raise AthenaSqlError(f"{relative!r} leads outside {root}; refusing to mirror it")
    return path


def _parquet_files(partitioned: bool) -> str:
    return "*/*.parquet" if partitioned else "*.parquet"


def _qualified(table: exp.Table) -> tuple[str, str]:
    if not table.db:
        raise AthenaSqlError(f"name the database of {table.name} (database.table)")
    return table.db, table.name


def _qualify(tree: exp.Expression, database: str) -> list[exp.Table]:
    """The tables the statement reads, those named without a database qualified with `database`
    (Athena's QueryExecutionContext, or `default`); a name is a WITH query's only where that WITH
    query is in scope."""
    if not isinstance(tree, (exp.Query, exp.Create)) or (isinstance(tree, exp.Create) and tree.expression is None):
        return []
    query = tree.expression if isinstance(tree, exp.Create) else tree
    try:
        scopes = list(traverse_scope(query))
    except Exception as error:  # noqa: BLE001 - sqlglot's analysis failing is a statement Athena refuses too
        raise AthenaSqlError(f"cannot resolve the statement's tables: {error}") from None
    read = []
    for scope in scopes:
        for table in scope.tables:
            if isinstance(scope.sources.get(table.alias_or_name), Scope) and not table.db:
                continue
            if not table.db:
                table.set("db", exp.to_identifier(database))
            read.append(table)
    return read


def _hive_type(duckdb_type: str) -> str:
    if duckdb_type.startswith("DECIMAL"):
        return duckdb_type.lower()
    return DUCKDB_TO_HIVE.get(duckdb_type, "string")


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
