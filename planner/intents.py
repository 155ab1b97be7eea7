"""Intents the local planner maps questions to, each a tool request and a way to word its result."""

import re
from collections.abc import Callable
from dataclasses import dataclass

from engagement.schema import BY_NAME

RESULTS = "engagement_analytics.final_results"  # published, de-identified: one row per customer
ENGAGEMENT = "actual_engagement_score"
# The results view's columns the planner groups by or measures, with the words that name them
# beyond their own (the contract's allowed values are added below).
CATEGORICAL = {"device_type": ("device", "devices"), "account_type": ("account", "subscription", "tier"),
               "age_band": ("age", "ages", "age group", "age groups"), "location": ("location", "locations", "state",
                                                                                  "states", "where"),
               "gender": ("gender",), "segment_name": ("segment", "segments", "persona", "personas"),
               "churn_risk_tier": ("churn risk tier",), "content_interest_1": ("content interest", "interest")}
NUMERIC = {"avg_daily_logins": ("daily logins", "logins"), "avg_session_duration_min": ("session duration", "session"),
           "days_since_last_login": ("days since last login", "inactive", "last login"),
           "total_connections": ("connections", "network size"),
           "transaction_revenue_month": ("transaction revenue", "revenue"),
           "churn_probability": ("churn probability",), "ltv_p50_usd": ("lifetime value", "ltv")}
CAPABILITIES = ("how engagement differs across a customer attribute (device, account type, age group, location, "
                "gender, segment)", "the correlation of a measure (logins, session duration, days since last login, "
                "connections, revenue) with engagement", "the distribution and quartiles of engagement scores",
                "the segments and their profiles", "the engagement level below which churn rises",
                "summary statistics of a measure", "one customer's predictions and reasons (give the customer id)")


@dataclass(frozen=True)
class Plan:
    tool: str
    input: dict
    compose: Callable[[dict], str]  # the tool's result -> the answer's text


def plan_for(question: str) -> Plan | None:
    """The intent a question maps to, or None."""
    text = question.lower()
    customer = re.search(r"\b[A-Za-z]+-\d{3,}\b", question)
    if customer:
        return Plan("explain_prediction", {"customer_id": customer.group(0)}, _explained)
    for matches, intent in _INTENTS:
        plan = intent(text) if matches(text) else None
        if plan is not None:  # an intent that finds no column it needs leaves the question to the next
            return plan
    return None


def _words(*words: str) -> Callable[[str], bool]:
    return lambda text: any(re.search(rf"\b{re.escape(word)}", text) for word in words)


def _column(text: str, columns: dict[str, tuple[str, ...]]) -> str | None:
    """The first column named in `text`: by its own name, a synonym, or one of its allowed values."""
    for column, synonyms in columns.items():
        contract = BY_NAME.get(column)
        values = tuple(contract.allowed or ()) if contract else ()
        names = (column.replace("_", " "), *synonyms, *values)
        if any(re.search(rf"\b{re.escape(name)}s?\b", text) for name in names):  # a plural names it too
            return column
    return None


def _query(sql: str, compose: Callable[[list[str], list[list]], str]) -> Plan:
    return Plan("query_athena", {"sql": sql}, lambda result: compose(result["columns"], result["rows"])
                + f"\n\nComputed by: {result['source']}")


def _compare(text: str) -> Plan | None:
    column = _column(text, CATEGORICAL)
    if column is None:
        return None
    sql = (f"SELECT {column}, count(*) AS customers, avg({ENGAGEMENT}) AS mean_engagement, "
           f"avg(predicted_engagement_score) AS mean_predicted_engagement FROM {RESULTS} "
           f"GROUP BY {column} ORDER BY mean_engagement DESC")

    def compose(columns, rows):
        lines = [f"- {row[0]}: mean engagement {_n(row[2])} (predicted {_n(row[3])}), {_i(row[1])} customers"
                 for row in rows]
        return f"Engagement by {column.replace('_', ' ')}, highest first:\n" + "\n".join(lines)
    return _query(sql, compose)


def _correlation(text: str) -> Plan | None:
    column = _column(text, NUMERIC)
    if column is None:
        return None
    sql = f"SELECT corr({column}, {ENGAGEMENT}) AS correlation, count(*) AS customers FROM {RESULTS}"
    return _query(sql, lambda columns, rows: (
        f"The correlation (Pearson) of {column.replace('_', ' ')} with engagement is {_n(rows[0][0])}, over "
        f"{_i(rows[0][1])} customers of the published run. Correlation is not a what-if estimate."))


def _summary(text: str) -> Plan | None:
    column = _column(text, NUMERIC) or (ENGAGEMENT if "engag" in text else None)
    if column is None:
        return None
    return _query(_statistics_sql(column), lambda columns, rows: (
        f"{column.replace('_', ' ').capitalize()} in the published run: "
        + ", ".join(f"{name.replace('_', ' ')} {_n(value)}" for name, value in zip(columns, rows[0]))))


def _statistics_sql(column: str) -> str:
    return (f"SELECT count({column}) AS customers, avg({column}) AS mean, stddev({column}) AS standard_deviation, "
            f"min({column}) AS minimum, approx_percentile({column}, 0.25) AS first_quartile, "
            f"approx_percentile({column}, 0.5) AS median, approx_percentile({column}, 0.75) AS third_quartile, "
            f"max({column}) AS maximum FROM {RESULTS}")


def _quartiles(text: str) -> Plan:
    sql = (f"SELECT quartile, count(*) AS customers, min({ENGAGEMENT}) AS lowest, max({ENGAGEMENT}) AS highest "
           f"FROM (SELECT {ENGAGEMENT}, ntile(4) OVER (ORDER BY {ENGAGEMENT}) AS quartile FROM {RESULTS}) "
           "GROUP BY quartile ORDER BY quartile")
    return _query(sql, lambda columns, rows: "Customers per engagement quartile:\n" + "\n".join(
        f"- quartile {row[0]}: {_i(row[1])} customers, engagement {_n(row[2])} to {_n(row[3])}" for row in rows))


def _segments(text: str) -> Plan:
    sql = (f"SELECT segment_name, count(*) AS customers, avg({ENGAGEMENT}) AS mean_engagement, "
           "avg(churn_probability) AS mean_churn_probability, avg(ltv_p50_usd) AS mean_ltv_usd, "
           f"avg(avg_daily_logins) AS mean_daily_logins FROM {RESULTS} GROUP BY segment_name "
           "ORDER BY mean_engagement DESC")
    return _query(sql, lambda columns, rows: "Segments, most engaged first:\n" + "\n".join(
        f"- {row[0]}: {_i(row[1])} customers, mean engagement {_n(row[2])}, churn probability {_n(row[3])}, "
        f"median lifetime value ${_n(row[4])}, {_n(row[5])} logins a day" for row in rows))


def _churn_threshold(text: str) -> Plan:
    churned = "avg(CASE WHEN actual_churn_30_day THEN 1.0 ELSE 0.0 END)"
    sql = (f"SELECT decile, min({ENGAGEMENT}) AS lowest, max({ENGAGEMENT}) AS highest, {churned} AS churn_rate, "
           f"count(*) AS customers, (SELECT {churned} FROM {RESULTS}) AS overall_churn_rate "
           f"FROM (SELECT {ENGAGEMENT}, actual_churn_30_day, ntile(10) OVER (ORDER BY {ENGAGEMENT}) AS decile "
           f"FROM {RESULTS}) GROUP BY decile ORDER BY decile")

    def compose(columns, rows):
        overall = rows[0][5]
        above = [r for r in rows if float(r[3]) > float(overall)]
        lines = "\n".join(f"- engagement {_n(r[1])} to {_n(r[2])}: churn rate {_n(r[3])}" for r in rows)
        where = (f"Churn runs above the average rate ({_n(overall)}) for engagement up to {_n(above[-1][2])}."
                 if above else f"No engagement decile churns above the average rate ({_n(overall)}).")
        return f"30-day churn by engagement decile:\n{lines}\n{where}"
    return _query(sql, compose)


def _explained(result: dict) -> str:
    lines = [f"Customer {result['customer_id']} (run {result['run_id']}): predicted engagement "
             f"{_n(result['predicted_engagement_score'])}, churn probability {_n(result['churn_probability'])}, "
             f"lifetime value ${_n(result['ltv_p10_usd'])}-${_n(result['ltv_p90_usd'])}, segment "
             f"{result['segment_name']}."]
    for model, reasons in result["reasons"].items():
        lines.append(f"Top reasons ({model}): " + ", ".join(
            f"{r['feature']} = {_n(r['value'])} ({'+' if (r['contribution'] or 0) >= 0 else ''}{_n(r['contribution'])})"
            for r in reasons))
    return "\n".join(lines) + f"\n\nSource: {result['source']}"


def _n(value) -> str:
    if value is None:
        return "n/a"
    number = float(value)
    return f"{number:,.0f}" if abs(number) >= 1000 else f"{number:.3g}" if abs(number) >= 1 else f"{number:.3f}"


def _i(value) -> str:
    return f"{int(float(value)):,}"


_INTENTS: tuple[tuple[Callable[[str], bool], Callable[[str], Plan | None]], ...] = (
    (_words("quartile"), _quartiles),
    (_words("segment", "persona", "power user", "archetype"), _segments),
    (lambda text: "churn" in text and _words("threshold", "indicate")(text), _churn_threshold),
    (_words("correlat", "relationship", "impact", "affect", "role"), _correlation),
    (_words("distribution", "summary", "statistic", "average", "mean"), _summary),
    (_words("engag"), _compare),
)


def converse(request: dict) -> dict:
    """A Converse response to `request` (the bedrock-runtime Converse request body)."""
    messages = request.get("messages", [])
    question = next((block["text"] for message in messages if message["role"] == "user"
                     for block in message["content"] if "text" in block), "")
    results = [block["toolResult"] for message in messages if message["role"] == "user"
               for block in message["content"] if "toolResult" in block]
    tools = {tool["toolSpec"]["name"] for tool in request.get("toolConfig", {}).get("tools", [])}
    plan = plan_for(question)
    if plan is None or plan.tool not in tools:
        return _final("I cannot answer that with the data and tools I have. I can answer: "
                      + "; ".join(CAPABILITIES) + ".")
    if not results:
        return {"output": {"message": {"role": "assistant", "content": [
            {"toolUse": {"toolUseId": "planner-1", "name": plan.tool, "input": plan.input}}]}},
            "stopReason": "tool_use", "usage": {"inputTokens": 0, "outputTokens": 0, "totalTokens": 0}}
    result = results[-1]
    output = result["content"][0].get("json", {})
    if result.get("status") == "error":
        return _final(f"The {plan.tool} tool could not answer: {output.get('error')}")
    return _final(plan.compose(output))


def _final(text: str) -> dict:
    return {"output": {"message": {"role": "assistant", "content": [{"text": text}]}}, "stopReason": "end_turn",
            "usage": {"inputTokens": 0, "outputTokens": 0, "totalTokens": 0}}
