"""The assistant's query_athena runs only single SELECTs over the tables it is given, limited."""

import pytest

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
    ("", "exactly one statement is allowed, got 0"),
])
def test_anything_else_is_refused_with_the_reason(sql, reason):
    with pytest.raises(UnsafeQuery, match=reason.replace("(", r"\(")):
        guarded(sql)


def test_the_statement_that_runs_is_the_one_parsed():
    sql = "SELECT count(*) FROM engagement_analytics.final_results -- ; DROP TABLE x"
    assert guarded(sql) == "SELECT COUNT(*) FROM engagement_analytics.final_results LIMIT 100"
