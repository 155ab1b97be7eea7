"""Read-only by construction: the assistant's `query_athena` runs only SQL this module returns.

A statement is parsed as Athena's SQL (Trino) and refused unless it is one query (SELECT, or
set operations of SELECTs, with CTEs) whose every table reference, resolved through sqlglot's
scope analysis (a name is a WITH query only where that WITH query is in scope), is one of the
tables it is given, named with its database. It may not write (`INTO` included), recurse, cross
join (a comma join or a join with no condition), or call a table function. Any error of the
parser is a refusal. The outermost query gets a LIMIT of at most `max_rows`; the statement that
runs is the parsed one, rendered, parsed again and checked again, so nothing the parser did not
see (a second statement after a comment, say) can reach Athena.

`aggregate_select` adds the rule the assistant's tools live under: every row a query returns is
an aggregate over customers, and carries how many rows it aggregates (a `GROUP_SIZE` column)
so the caller can suppress small groups. The rows under an aggregate are customer rows, never
multiplied: no join, set operation, VALUES or UNNEST below it; no aggregate that lists values.
"""

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.scope import Scope, traverse_scope

WRITES = (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter, exp.Command,
          exp.TruncateTable, exp.Grant, exp.Into)  # anywhere in the tree, not only at the top
GROUP_SIZE = "rows_in_group"
# Aggregates whose value lists the rows it aggregates (so an "aggregate" that is a row dump).
LISTING_AGGREGATES = (exp.ArrayAgg, exp.GroupConcat, exp.ArrayConcatAgg, exp.ArrayUniqueAgg)
LISTING_FUNCTIONS = frozenset({"array_agg", "map_agg", "multimap_agg", "histogram", "numeric_histogram", "listagg",
                               "map_union", "approx_most_frequent", "set_agg", "set_union", "string_agg",
                               "tdigest_agg", "qdigest_agg", "merge"})


class UnsafeQuery(ValueError):
    """A statement the assistant may not run, with the reason."""


def safe_select(sql: str, *, allowed_tables: frozenset[str] | set[str], max_rows: int) -> str:
    """`sql` as it will run, or UnsafeQuery naming what is wrong with it."""
    query = _checked(sql, frozenset(allowed_tables))
    return _rendered(_limited(query, max_rows), frozenset(allowed_tables))


def aggregate_select(sql: str, *, allowed_tables: frozenset[str] | set[str], max_rows: int) -> str:
    """As `safe_select`, for a query whose every row is an aggregate: the SQL that runs returns a
    `GROUP_SIZE` column (the rows each output row aggregates)."""
    query = _checked(sql, frozenset(allowed_tables))
    try:
        sized = _with_group_sizes(query)
    except UnsafeQuery:
        raise
    except Exception as error:  # noqa: BLE001 - a shape the analysis cannot take is a refusal, not a 502
        raise UnsafeQuery(f"cannot analyse the query: {error}") from None
    return _rendered(_limited(sized, max_rows), frozenset(allowed_tables))


def _rendered(query: exp.Query, allowed_tables: frozenset[str]) -> str:
    sql = query.sql(dialect="trino", comments=False)
    _checked(sql, allowed_tables)  # what runs passes the same checks as what was asked
    return sql


def _checked(sql: str, allowed_tables: frozenset[str]) -> exp.Query:
    try:
        statements = [s for s in sqlglot.parse(sql, read="trino") if s is not None]
    except Exception as error:  # noqa: BLE001 - ParseError, TokenError, and whatever else the parser raises
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UnsafeQuery(f"not valid Athena SQL: {first}") from None
    if len(statements) != 1:
        raise UnsafeQuery(f"exactly one statement is allowed, got {len(statements)}")
    [query] = statements
    if not isinstance(query, exp.Query):
        raise UnsafeQuery(f"only SELECT queries are allowed, got {query.key.upper()}")
    if any(query.find_all(*WRITES)):
        raise UnsafeQuery("the query writes or changes the catalog (INSERT, CREATE, SELECT … INTO, …)")
    if any(with_.args.get("recursive") for with_ in query.find_all(exp.With)):
        raise UnsafeQuery("recursive WITH queries are not allowed")
    for join in query.find_all(exp.Join):
        condition = join.args.get("on")
        if join.args.get("kind", "").upper() == "CROSS" or not (
                join.args.get("using") or (condition is not None and condition.find(exp.Column))):
            raise UnsafeQuery(f"cross joins are not allowed (join on a condition): {join.sql(dialect='trino')[:80]}")
    try:
        scopes = list(traverse_scope(query))
    except Exception as error:  # noqa: BLE001
        raise UnsafeQuery(f"cannot resolve the query's tables: {error}") from None
    for scope in scopes:
        _check_tables(scope, allowed_tables)
    return query


def _check_tables(scope: Scope, allowed_tables: frozenset[str]) -> None:
    """Each table the scope reads is a WITH query or subquery in scope, or an allowed table."""
    for table in scope.tables:
        if isinstance(table.this, exp.Func) or not isinstance(table.this, exp.Identifier):
            raise UnsafeQuery(f"table functions are not allowed: {table.sql(dialect='trino')}")
        if isinstance(scope.sources.get(table.alias_or_name), Scope) and not table.db and not table.catalog:
            continue  # a WITH query visible here
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


# --- every output row an aggregate ------------------------------------------------------------

def _with_group_sizes(query: exp.Query) -> exp.Query:
    if any(identifier.name.lower() == GROUP_SIZE for identifier in query.find_all(exp.Identifier)):
        raise UnsafeQuery(f"{GROUP_SIZE} is the name of the column the guard adds: use another name")
    between: list[exp.SetOperation] = []
    outputs = _output_aggregates(query, query, between)
    for node in query.find_all(exp.Join, exp.Values, exp.Unnest, exp.Lateral):
        raise UnsafeQuery(f"the rows aggregated must be customer rows, never multiplied: no {node.key.upper()} "
                          f"({node.sql(dialect='trino')[:80]})")
    if any(all(op is not seen for seen in between) for op in query.find_all(exp.SetOperation)):
        raise UnsafeQuery("set operations (UNION, …) are allowed only between aggregates, not under one")
    for aggregate in outputs:
        _refuse_listing(aggregate)
        for subquery in (s for e in aggregate.expressions for s in e.find_all(exp.Subquery)):
            raise UnsafeQuery("a subquery among an aggregate's columns aggregates other rows than its group; "
                              f"use a window over the groups instead ({subquery.sql(dialect='trino')[:80]})")
        aggregate.select(exp.alias_(exp.Count(this=exp.Star()), GROUP_SIZE), copy=False)
    return query


def _output_aggregates(node: exp.Expression, root: exp.Query, between: list) -> list[exp.Select]:
    """The SELECTs whose rows become the output rows: through set operations (noted in `between`),
    parentheses and wrappers (a SELECT over one derived table or WITH query, which passes
    GROUP_SIZE on)."""
    if isinstance(node, exp.Subquery):
        return _output_aggregates(node.this, root, between)
    if isinstance(node, exp.SetOperation):
        between.append(node)
        return _output_aggregates(node.left, root, between) + _output_aggregates(node.right, root, between)
    if not isinstance(node, exp.Select):
        raise UnsafeQuery(f"unsupported query shape: {node.key.upper()}")
    if _aggregates(node):
        return [node]
    if _scalar_aggregates(node):
        return []
    source = _single_source(node, root)
    if source is None:
        raise UnsafeQuery("customer rows are not returned, only aggregates of them: use GROUP BY with count, avg, "
                          "sum, min, max, approx_percentile, corr…")
    if not any(isinstance(e, exp.Star) for e in node.expressions):
        node.select(exp.column(GROUP_SIZE), copy=False)
    return _output_aggregates(source, root, between)


def _scalar_aggregates(select: exp.Select) -> bool:
    """A SELECT of no table whose every column is a one-row aggregate subquery ("SELECT (SELECT avg(x)
    FROM a), (SELECT avg(x) FROM b)"): one output row, whose group size is the smallest of theirs."""
    if select.args.get("from_") is not None or not select.expressions:
        return False
    subqueries = [projection.unalias() for projection in select.expressions]
    if not all(isinstance(s, exp.Subquery) and isinstance(s.this, exp.Select) and _aggregates(s.this)
               and not s.this.args.get("group") for s in subqueries):
        return False
    counts = []
    for subquery in subqueries:
        _refuse_listing(subquery.this)
        counted = subquery.this.copy()
        counted.set("expressions", [exp.Count(this=exp.Star())])
        counts.append(exp.Subquery(this=counted))
    size = counts[0] if len(counts) == 1 else exp.func("least", *counts)
    select.select(exp.alias_(size, GROUP_SIZE), copy=False)
    return True


def _aggregates(select: exp.Select) -> bool:
    """GROUP BY, or an aggregate function of this SELECT's own (not a window's, not a subquery's)."""
    return bool(select.args.get("group")) or any(
        agg.find_ancestor(exp.Select) is select and not isinstance(agg.parent, exp.Window)
        for projection in select.expressions for agg in projection.find_all(exp.AggFunc))


def _single_source(select: exp.Select, root: exp.Query) -> exp.Expression | None:
    """The one derived table or WITH query a non-aggregating SELECT reads, if that is all it reads."""
    from_ = select.args.get("from_")
    if from_ is None or select.args.get("joins"):
        return None
    source = from_.this
    if isinstance(source, exp.Subquery):
        return source.this
    if isinstance(source, exp.Table) and not source.db:
        with_ = root.args.get("with_")
        for cte in with_.expressions if with_ else []:
            if cte.alias_or_name.lower() == source.name.lower():
                return cte.this
    return None


def _refuse_listing(aggregate: exp.Select) -> None:
    for function in aggregate.find_all(exp.Func):
        name = function.name.lower() if isinstance(function, exp.Anonymous) else ""
        if isinstance(function, LISTING_AGGREGATES) or name in LISTING_FUNCTIONS:
            raise UnsafeQuery(f"aggregates that list values are not allowed: {function.sql(dialect='trino')[:80]}")
