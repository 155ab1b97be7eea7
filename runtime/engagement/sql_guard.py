"""Read-only by construction: the assistant's `query_athena` runs only SQL this module returns.

A statement is parsed as Athena's SQL (Trino) and refused unless it is one query (SELECT, or
set operations of SELECTs, with CTEs) that reads only the tables it is given, each named with
its database, and calls no table function (which could read outside the catalog). The outermost
query gets a LIMIT of at most `max_rows`. The parsed statement is what runs, re-rendered, so
nothing the parser did not see (a second statement after a comment, say) can reach Athena.
"""

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

WRITES = (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter, exp.Command,
          exp.TruncateTable, exp.Grant)  # anywhere in the tree, not only at the top


class UnsafeQuery(ValueError):
    """A statement the assistant may not run, with the reason."""


def safe_select(sql: str, *, allowed_tables: frozenset[str] | set[str], max_rows: int) -> str:
    """`sql` as it will run, or UnsafeQuery naming what is wrong with it."""
    try:
        statements = [s for s in sqlglot.parse(sql, read="trino") if s is not None]
    except ParseError as error:
        raise UnsafeQuery(f"not valid Athena SQL: {str(error).splitlines()[0]}") from None
    if len(statements) != 1:
        raise UnsafeQuery(f"exactly one statement is allowed, got {len(statements)}")
    [query] = statements
    if not isinstance(query, exp.Query):
        raise UnsafeQuery(f"only SELECT queries are allowed, got {query.key.upper()}")
    if any(query.find_all(*WRITES)):
        raise UnsafeQuery("the query contains a statement that writes or changes the catalog")
    _check_tables(query, allowed_tables)
    return _limited(query, max_rows).sql(dialect="trino", comments=False)


def _check_tables(query: exp.Query, allowed_tables: frozenset[str] | set[str]) -> None:
    ctes = {cte.alias_or_name.lower() for cte in query.find_all(exp.CTE)}
    for table in query.find_all(exp.Table):
        if isinstance(table.this, exp.Func):  # TABLE(...), read_csv(...): they read outside the catalog
            raise UnsafeQuery(f"table functions are not allowed: {table.sql(dialect='trino')}")
        if not table.db and table.name.lower() in ctes:
            continue
        name = f"{table.db}.{table.name}".lower() if table.db else table.name.lower()
        if table.catalog or name not in allowed_tables:
            named = ".".join(part for part in (table.catalog, table.db, table.name) if part)
            raise UnsafeQuery(f"{named} is not one of the tables the assistant may read: "
                              + ", ".join(sorted(allowed_tables)))


def _limited(query: exp.Query, max_rows: int) -> exp.Query:
    limit = query.args.get("limit")
    current = limit.expression if isinstance(limit, exp.Limit) else None
    if isinstance(current, exp.Literal) and current.is_int and int(current.this) <= max_rows:
        return query
    return query.limit(max_rows, copy=True)
