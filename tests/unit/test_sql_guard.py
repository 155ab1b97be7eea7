"""The assistant's query_athena runs only single SELECTs over the tables it is given, limited."""

import random

import duckdb
import pytest
import sqlglot

from engagement import sql_guard
from engagement.sql_guard import UnsafeQuery, safe_select

ALLOWED = frozenset({"engagement_analytics.final_results", "engagement_analytics.model_performance"})


def guarded(sql: str, max_rows: int = 100) -> str:
    return safe_select(sql, allowed_tables=ALLOWED, max_rows=max_rows)


def test_a_select_over_allowed_views_runs_with_a_limit():
    assert guarded("SELECT segment_name, avg(churn_probability) FROM engagement_analytics.final_results "
                   "GROUP BY 1") == ("SELECT segment_name, AVG(churn_probability) FROM "
                                     "engagement_analytics.final_results GROUP BY 1 LIMIT 100")
    assert guarded("SELECT * FROM engagement_analytics.final_results LIMIT 5").endswith("LIMIT 5")
    assert guarded("SELECT * FROM engagement_analytics.final_results LIMIT 5000").endswith("LIMIT 100")
    with_cte = guarded("WITH top AS (SELECT * FROM engagement_analytics.final_results) SELECT count(*) FROM top")
    assert with_cte.endswith("FROM top LIMIT 100")
    union = guarded("SELECT 1 AS x FROM engagement_analytics.final_results UNION ALL "
                    "SELECT 2 FROM engagement_analytics.model_performance")
    assert union.endswith("LIMIT 100")


@pytest.mark.parametrize(("sql", "reason"), [
    ("DROP TABLE engagement_analytics.final_results", "only SELECT queries"),
    ("INSERT INTO engagement_analytics.final_results SELECT * FROM engagement_analytics.final_results",
     "only SELECT queries"),
    ("CREATE TABLE engagement_analytics.x AS SELECT * FROM engagement_analytics.final_results", "only SELECT"),
    ("DELETE FROM engagement_analytics.final_results", "only SELECT queries"),
    ("SELECT 1 FROM engagement_analytics.final_results; DROP TABLE engagement_analytics.final_results",
     "exactly one statement"),
    ("SELECT * FROM engagement_raw.customers", "engagement_raw.customers is not one of the tables"),
    ("SELECT * FROM engagement_raw.customers_bronze", "is not one of the tables"),
    ("SELECT * FROM final_results", "final_results is not one of the tables"),
    ("SELECT * FROM awsdatacatalog.engagement_analytics.final_results", "is not one of the tables"),
    ("SELECT * FROM engagement_analytics.final_results f JOIN engagement_raw.customers c "
     "ON f.customer_id = c.customer_id", "engagement_raw.customers is not one of the tables"),
    ("SELECT * FROM engagement_analytics.final_results WHERE customer_id IN "
     "(SELECT customer_id FROM engagement_raw.customers)", "is not one of the tables"),
    ("SELECT * FROM TABLE(sequence(1, 3))", "table functions are not allowed"),
    ("SELECT FROM WHERE", "not valid Athena SQL"),
    # a name is a WITH query's only where that WITH query is in scope
    ("SELECT * FROM (WITH top AS (SELECT * FROM engagement_analytics.final_results) SELECT * FROM top) s "
     "JOIN top ON s.customer_id = top.customer_id", "top is not one of the tables"),
    ("WITH a AS (SELECT * FROM top) , top AS (SELECT 1 AS x FROM engagement_analytics.final_results) "
     "SELECT * FROM a", "top is not one of the tables"),
    ("SELECT customer_id FROM engagement_analytics.final_results WHERE customer_id IN "
     "(SELECT * FROM (WITH c AS (SELECT 1 AS x FROM engagement_analytics.final_results) SELECT * FROM c)) "
     "AND customer_id IN (SELECT * FROM c)", "c is not one of the tables"),
    ('SELECT * FROM "raw/customers/customers.csv"', "is not one of the tables"),
    ("SELECT * INTO copied FROM engagement_analytics.final_results", "SELECT … INTO"),
    ("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT n FROM r", "recursive WITH"),
    ("SELECT count(*) FROM engagement_analytics.final_results a CROSS JOIN engagement_analytics.final_results b",
     "cross joins are not allowed"),
    ("SELECT count(*) FROM engagement_analytics.final_results a, engagement_analytics.final_results b",
     "cross joins are not allowed"),
    ("SELECT count(*) FROM engagement_analytics.final_results a JOIN engagement_analytics.final_results b ON TRUE",
     "cross joins are not allowed"),
    ("SELECT 'unterminated", "not valid Athena SQL"),  # sqlglot raises TokenError, not ParseError
    ('SELECT "', "not valid Athena SQL"),
    ("", "exactly one statement is allowed, got 0"),
])
def test_anything_else_is_refused_with_the_reason(sql, reason):
    with pytest.raises(UnsafeQuery, match=reason.replace("(", r"\(")):
        guarded(sql)


def test_the_statement_that_runs_is_the_one_parsed():
    sql = "SELECT count(*) FROM engagement_analytics.final_results -- ; DROP TABLE x"
    assert guarded(sql) == "SELECT COUNT(*) FROM engagement_analytics.final_results LIMIT 100"


def test_a_join_on_a_condition_and_a_with_query_in_scope_are_allowed():
    sql = ("WITH top AS (SELECT * FROM engagement_analytics.final_results) SELECT count(*) FROM top "
           "JOIN engagement_analytics.model_performance m ON m.segment_name = top.segment_name")
    assert guarded(sql).endswith("LIMIT 100")


def test_any_parser_failure_is_a_refusal(monkeypatch):
    """Whatever sqlglot raises (a TypeError from a corner of the parser, say) is a refusal, not a 502."""
    def broken(*args, **kwargs):
        raise TypeError("unsupported operand")

    monkeypatch.setattr(sql_guard.sqlglot, "parse", broken)
    with pytest.raises(UnsafeQuery, match="not valid Athena SQL: unsupported operand"):
        guarded("SELECT 1 FROM engagement_analytics.final_results")


# --- fuzz: no statement the guard lets through reads anything but the allowed tables --------------

SECRET = "SECRET"
NAMES = ("top", "base", "c", "final_results")
TABLE_REFERENCES = ("engagement_analytics.final_results", '"engagement_analytics"."final_results"',
                    "ENGAGEMENT_ANALYTICS.FINAL_RESULTS", "top", "base", "c", "final_results", '"top"', "main.top",
                    "secret.t", "engagement_raw.customers", "awsdatacatalog.engagement_analytics.final_results")


def _oracle() -> duckdb.DuckDBPyConnection:
    """The allowed table holds harmless rows; every other name a statement could reach holds SECRET."""
    db = duckdb.connect()
    for schema in ("engagement_analytics", "engagement_raw", "secret", "awsdatacatalog"):
        db.execute(f"CREATE SCHEMA {schema}")
    db.execute("CREATE TABLE engagement_analytics.final_results AS SELECT 'ok' AS g FROM range(3)")
    for table in ("main.top", "main.base", "main.c", "main.final_results", "secret.t", "engagement_raw.customers",
                  "engagement_analytics.model_performance"):
        db.execute(f"CREATE TABLE {table} AS SELECT '{SECRET}' AS g")
    return db


def _statement(rng: random.Random, depth: int) -> str:
    ctes = [f"{name} AS ({_statement(rng, depth - 1)})" for name in NAMES if depth > 0 and rng.random() < 0.3]
    body = f"SELECT g FROM {_source(rng, depth)}"
    if depth > 0 and rng.random() < 0.4:
        body += f" WHERE g IN (SELECT g FROM {_source(rng, depth - 1)})"
    if depth > 0 and rng.random() < 0.3:
        body += f" UNION ALL SELECT g FROM {_source(rng, depth - 1)}"
    return (f"WITH {', '.join(ctes)} " if ctes else "") + body


def _source(rng: random.Random, depth: int) -> str:
    if depth > 0 and rng.random() < 0.35:
        return f"({_statement(rng, depth - 1)}) AS s{rng.randrange(100)}"
    allowed = rng.random() < 0.6
    return rng.choice(TABLE_REFERENCES[:3] if allowed else TABLE_REFERENCES[3:]) + rng.choice(("", " AS t", " top"))


def test_fuzz_no_statement_let_through_reads_outside_the_allowed_tables():
    db, rng, allowed = _oracle(), random.Random(24), frozenset({"engagement_analytics.final_results"})
    let_through = 0
    for _ in range(3000):
        sql = _statement(rng, depth=3)
        try:
            checked = safe_select(sql, allowed_tables=allowed, max_rows=100)
        except UnsafeQuery:
            continue
        let_through += 1
        rows = db.execute(sqlglot.transpile(checked, read="trino", write="duckdb")[0]).fetchall()
        assert (SECRET,) not in rows, sql
    assert let_through > 300  # the generator reaches the allowed space too, not only refusals
