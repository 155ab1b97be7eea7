"""Intents the local planner maps questions to, each a tool request and a way to word its result.

Every number in a composed answer is one the tool returned (derived numbers are computed in the
SQL, or by the pipeline that wrote the document); the composition only picks and words them.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from engagement.scenarios import SCENARIOS
from planner import parse as parser
from planner.vocabulary import (
    CUSTOMERS,
    ENGAGEMENT,
    NUMERIC,
    PREDICTED_CATEGORICAL,
    categorical_named,
    columns_named,
    numeric_named,
    words,
)

CAPABILITIES = (
    "how engagement differs across a customer attribute (device, account type, age group, location, time of day, "
    "segment…)", "the correlation of any feature with engagement or with another feature",
    "what separates high- from low-engaged (or churned from retained) customers, optionally within a group",
    "summary statistics and distribution of any feature, or of all of them", "engagement quartiles",
    "the segments and their profiles", "churn rate by engagement or another feature",
    "modelled what-if scenarios (converting free users to premium, a higher notification click rate, more content "
    "posts)",
    "model accuracy, overfitting and feature importance; data quality", "one customer's predictions and reasons")
CONTRAST_FEATURES = tuple(c for c in NUMERIC if c not in (ENGAGEMENT, "lifetime_value_usd"))
CONTRAST_ROWS = 8
# Customers ranked by engagement, ties broken by every contrasted feature: customers tied on all of
# them are interchangeable in every mean the contrast reports (the view has no id to break ties by).
TIE_BROKEN = ", ".join((ENGAGEMENT, *CONTRAST_FEATURES))
INACTIVE_DAYS = 7  # what "inactive" means here: no login for a week


@dataclass(frozen=True)
class Plan:
    tool: str | None  # None: an answer no tool is asked for (a refusal naming what was not understood)
    input: dict
    compose: Callable[[dict], str]  # the tool's result -> the answer's text
    reading: str = ""  # what the planner understood: the parsed statistic, or the intent's name


@dataclass(frozen=True)
class Filter:
    sql: str
    description: str


def plan_for(question: str) -> Plan | None:
    """The intent a question maps to, or None."""
    customer = re.search(r"\b[A-Za-z]+-\d{3,}\b", question)
    if customer:
        return Plan("explain_prediction", {"customer_id": customer.group(0)}, _explained, "explained")
    text, where = _filter(question.lower())
    refusal = None  # the parser's, when it met words it does not know
    for matches, intent in _INTENTS:
        if refusal is not None and intent in _CATCH_ALL:
            break  # a question half understood gets no number from a guess
        plan = intent(text, where) if matches(text) else None
        if plan is not None and plan.tool is None:
            refusal = plan  # an intent with its own cue words may still read the question whole
        elif plan is not None:  # an intent that finds no column it needs leaves the question to the next
            return plan if plan.reading else replace(plan, reading=intent.__name__.strip("_"))
    return refusal


# --- a statistic the question parser read ------------------------------------------------------------

def _statistic(text: str, where: Filter | None) -> Plan | None:
    parsed = parser.parse(text)
    if isinstance(parsed, parser.Unknown):
        named = ", ".join(f"'{word}'" for word in parsed.words)
        return Plan(None, {}, lambda result: (
            f"I do not know what {named} refers to in the published data, so I will not guess a number. "
            "I can answer: " + "; ".join(CAPABILITIES) + " — and any mean, median, percentile, share, count, "
            "total, minimum, maximum, standard deviation or correlation of the data's columns, by any attribute."),
            parsed.describe())
    if parsed is None:
        return None
    sql = parser.statement(parsed, where.sql if where else None)  # with a filter phrase ("inactive", "7+ days")
    heading = parser.title(parsed) + _within(where)

    def compose(columns, rows):
        if not rows:
            return f"{heading}: too few customers match to report (small groups are suppressed)."
        if parsed.group is None:
            value, customers = rows[0][0], rows[0][1]
            if parsed.aggregation == "count":
                return f"{heading}: {_i(value)}."
            return f"{heading}: {_value(parsed, value)} ({_i(customers)} customers)."
        order = {"desc": ", highest first", "asc": ", lowest first"}.get(parsed.order or "", "")
        if isinstance(parsed.group, parser.Band):
            lines = [f"- {'quartile' if parsed.group.bands == 4 else 'decile'} {r[0]} ({words(parsed.group.column)} "
                     f"{_n(r[1])} to {_n(r[2])}): " + ("" if parsed.aggregation == "count" else
                                                       f"{_value(parsed, r[3])}, ") + f"{_i(r[4])} customers"
                     for r in rows]
            return f"{heading} by {parsed.group.describe().replace('_', ' ')}:\n" + "\n".join(lines)
        lines = [f"- {_group_value(parsed.group, r[0])}: {_value(parsed, r[1])}, {_i(r[2])} customers" for r in rows]
        return f"{heading} by {words(parsed.group)}{order}:\n" + "\n".join(lines)
    return replace(_query(sql, compose), reading=parsed.describe())


def _value(parsed, value) -> str:
    if parsed.aggregation == "count":
        return _i(value)
    if parsed.aggregation == "share" and value is not None:
        return f"{_n(value)} ({_n(float(value) * 100)}%)"
    return _n(value)


def _group_value(column: str, value) -> str:
    return {"true": words(column), "false": f"not {words(column)}"}.get(str(value).lower(), str(value))


# --- filters: "users who haven't logged in for 7+ days" ----------------------------------------------

_FILTERS: tuple[tuple[str, Callable[[re.Match], Filter]], ...] = (
    (r"(?:haven'?t|have not|not) logged in for (\d+)\+? days|(\d+)\+ days", lambda m: Filter(
        f"days_since_last_login >= {int(m.group(1) or m.group(2))}",
        f"customers who have not logged in for {int(m.group(1) or m.group(2))}+ days")),
    (r"\binactive\b", lambda m: Filter(f"days_since_last_login >= {INACTIVE_DAYS}",
                                       f"inactive customers (no login for {INACTIVE_DAYS}+ days)")),
    (r"engagement(?: scores?)? (?:below|under|less than) (0?\.\d+)", lambda m: Filter(
        f"{ENGAGEMENT} < {float(m.group(1))}", f"customers with engagement below {float(m.group(1))}")),
    (r"high churn risk", lambda m: Filter(
        "churn_risk_tier = 'high'",
        "customers in the high churn-risk tier")),
    (r"first (\d+) days", lambda m: Filter(
        f"time_since_first_transaction_days <= {int(m.group(1))}",
        f"customers whose first transaction was at most {int(m.group(1))} days ago (the de-identified data has no "
        "signup date; first transaction is the nearest measure of tenure)")),
)


def _filter(text: str) -> tuple[str, Filter | None]:
    """The question without its filter phrase, and the filter."""
    for pattern, build in _FILTERS:
        match = re.search(pattern, text)
        if match:
            return text[:match.start()] + " " + text[match.end():], build(match)
    return text, None


def _where(where: Filter | None) -> str:
    return f" WHERE {where.sql}" if where else ""


def _within(where: Filter | None) -> str:
    return f" among {where.description}" if where else ""


# --- intents over the customer features and the results ---------------------------------------------

def _query(sql: str, compose: Callable[[list[str], list[list]], str]) -> Plan:
    return Plan("query_athena", {"sql": sql}, lambda result: compose(result["columns"], result["rows"])
                + _suppressed(result) + f"\n\nComputed by: {result['source']}")


def _suppressed(result: dict) -> str:
    count = result.get("suppressed_groups") or 0
    return f"\n({count} group{'s' if count > 1 else ''} of too few customers to report left out.)" if count else ""


def _compare(text: str, where: Filter | None) -> Plan | None:
    named = categorical_named(text)
    if not named:
        return None
    column = named[0]
    sql = (f"SELECT {column}, count(*) AS customers, avg({ENGAGEMENT}) AS mean_engagement FROM {CUSTOMERS}"
           f"{_where(where)} "
           f"GROUP BY {column} ORDER BY mean_engagement DESC")

    def compose(columns, rows):
        lines = [f"- {row[0]}: mean engagement {_n(row[2])}, {_i(row[1])} customers" for row in rows]
        return f"Engagement by {words(column)}{_within(where)}, highest first:\n" + "\n".join(lines)
    return _query(sql, compose)


def _split(text: str, where: Filter | None) -> Plan | None:
    """Engagement on either side of a threshold the question states: "(active listings > 0)"."""
    match = re.search(r"([a-z][a-z ]*?)\s*(>=|<=|>|<)\s*(\d+(?:\.\d+)?)", text)
    named = numeric_named(match.group(1)) if match else []
    if not named:
        return None
    column, operator, value = named[-1], match.group(2), float(match.group(3))
    condition = f"{column} {operator} {value:g}"
    sql = (f"SELECT CASE WHEN {condition} THEN '{condition}' ELSE 'otherwise' END AS customer_group, "
           f"count(*) AS customers, avg({ENGAGEMENT}) AS mean_engagement FROM {CUSTOMERS}{_where(where)} "
           "GROUP BY 1 ORDER BY mean_engagement DESC")
    return _query(sql, lambda columns, rows: f"Engagement by {words(column)}:\n" + "\n".join(
        f"- {row[0]}: mean engagement {_n(row[2])}, {_i(row[1])} customers" for row in rows))


def _correlation(text: str, where: Filter | None) -> Plan | None:
    named = numeric_named(text)
    if not named:
        return None
    first, second = (named[0], named[1]) if len(named) > 1 else (named[0], ENGAGEMENT)
    overall = f"corr({first}, {second})"
    selected = (f", corr(CASE WHEN {where.sql} THEN {first} END, CASE WHEN {where.sql} THEN {second} END) "
                f"AS correlation_within, count(CASE WHEN {where.sql} THEN 1 END) AS customers_within") if where else ""
    sql = f"SELECT {overall} AS correlation, count(*) AS customers{selected} FROM {CUSTOMERS}"

    def compose(columns, rows):
        row = rows[0]
        answer = (f"The correlation (Pearson) of {words(first)} with {words(second)} is {_n(row[0])} over "
                  f"{_i(row[1])} customers of the published run")
        if where:
            answer += f"; {_n(row[2])}{_within(where)} ({_i(row[3])} customers)"
        return answer + ". A correlation is an association, not the effect of changing it (ask a what-if for that)."
    return _query(sql, compose)


def _contrast(text: str, where: Filter | None) -> Plan:
    """What separates two groups: the features whose means differ most, in standard deviations."""
    by_churn = bool(re.search(r"retain|warning|intervention|churned", text))
    share = int(m.group(1)) if (m := re.search(r"(\d+)\s*%", text)) else 25
    rest = bool(re.search(r"profile|typical|defines", text))
    if by_churn:
        group, labels = "CASE WHEN churn_30_day THEN 'second' ELSE 'first' END", ("retained", "churned in 30 days")
    else:
        low = "ELSE 'second'" if rest else f"WHEN position <= customers * {share} / 100.0 THEN 'second'"
        group = f"CASE WHEN position > customers * {100 - share} / 100.0 THEN 'first' {low} END"
        labels = (f"top {share}% by engagement", "everyone else" if rest else f"bottom {share}% by engagement")
    branches = " UNION ALL ".join(
        f"SELECT '{c}' AS feature, avg(CASE WHEN grp = 'first' THEN {c} END) AS first_mean, "
        f"avg(CASE WHEN grp = 'second' THEN {c} END) AS second_mean, (avg(CASE WHEN grp = 'first' THEN {c} END) - "
        f"avg(CASE WHEN grp = 'second' THEN {c} END)) / nullif(stddev({c}), 0) AS standardized_difference, "
        "count(CASE WHEN grp = 'first' THEN 1 END) AS first_customers, "
        "count(CASE WHEN grp = 'second' THEN 1 END) AS second_customers FROM grouped" for c in CONTRAST_FEATURES)
    sql = (f"WITH base AS (SELECT * FROM {CUSTOMERS}{_where(where)}), "
           f"ranked AS (SELECT *, row_number() OVER (ORDER BY {TIE_BROKEN}) AS position, "
           "count(*) OVER () AS customers FROM base), "
           f"grouped AS (SELECT *, {group} AS grp FROM ranked) "
           f"SELECT * FROM ({branches}) ORDER BY abs(standardized_difference) DESC LIMIT {CONTRAST_ROWS}")

    def compose(columns, rows):
        if not rows or rows[0][4] in (None, "0") or rows[0][5] in (None, "0"):
            return f"No customers fall in both groups{_within(where)}, so there is nothing to compare."
        head = (f"What separates {labels[0]} ({_i(rows[0][4])} customers) from {labels[1]} ({_i(rows[0][5])})"
                f"{_within(where)}, largest differences first (difference in standard deviations):")
        lines = [f"- {words(r[0])}: {_n(r[1])} vs {_n(r[2])} ({_signed(r[3])} sd)" for r in rows]
        return "\n".join([head, *lines, "These are associations in the published run, not effects of changing "
                                        "them; the what-if scenarios estimate effects with the models."])
    return _query(sql, compose)


def _feature_stats(text: str, where: Filter | None) -> Plan | None:
    if re.search(r"\ball (?:the )?features\b|\bevery feature\b", text):
        return Plan("get_feature_stats", {"feature": "all"}, _all_stats)
    named = [c for c in columns_named(text) if c not in PREDICTED_CATEGORICAL]
    column = next((c for c in named if c != ENGAGEMENT), named[0] if named else None)
    if column is None:
        return None
    return Plan("get_feature_stats", {"feature": column}, _stats)


def _stats(result: dict) -> str:
    columns, rows, feature = result["columns"], result["rows"], words(result["feature"])
    if columns[0] == "feature":
        row = dict(zip(columns, rows[0]))
        text = (f"{feature.capitalize()} in the published run: {_i(row['customers'])} customers "
                f"({_i(row['missing'])} missing), mean {_n(row['mean'])}, standard deviation "
                f"{_n(row['standard_deviation'])}, minimum {_n(row['minimum'])}, quartiles {_n(row['first_quartile'])}"
                f" / {_n(row['median'])} / {_n(row['third_quartile'])}, maximum {_n(row['maximum'])}.")
    else:
        text = f"{feature.capitalize()} in the published run:\n" + "\n".join(
            f"- {row[0]}: {_i(row[1])} customers ({_n(float(row[2]) * 100)}%)" for row in rows)
    return text + f"\n\nComputed by: {result['source']}"


def _all_stats(result: dict) -> str:
    lines = [f"- {words(r[0])}: mean {_n(r[3])}, sd {_n(r[4])}, min {_n(r[5])}, median {_n(r[7])}, max {_n(r[9])}, "
             f"{_i(r[2])} missing" for r in result["rows"]]
    return (f"Summary statistics of every numeric feature and label ({_i(result['rows'][0][1])} customers):\n"
            + "\n".join(lines) + f"\n\nComputed by: {result['source']}")


def _quartiles(text: str, where: Filter | None) -> Plan:
    sql = (f"SELECT quartile, count(*) AS customers, min({ENGAGEMENT}) AS lowest, max({ENGAGEMENT}) AS highest "
           f"FROM (SELECT {ENGAGEMENT}, ntile(4) OVER (ORDER BY {ENGAGEMENT}) AS quartile FROM {CUSTOMERS}) "
           "GROUP BY quartile ORDER BY quartile")
    return _query(sql, lambda columns, rows: "Customers per engagement quartile:\n" + "\n".join(
        f"- quartile {row[0]}: {_i(row[1])} customers, engagement {_n(row[2])} to {_n(row[3])}" for row in rows))


def _segments(text: str, where: Filter | None) -> Plan:
    sql = (f"SELECT segment_name, count(*) AS customers, avg({ENGAGEMENT}) AS mean_engagement, "
           "avg(churn_probability) AS mean_churn_probability, avg(ltv_p50_usd) AS mean_ltv_usd, "
           f"avg(avg_daily_logins) AS mean_daily_logins FROM {CUSTOMERS} GROUP BY segment_name "
           "ORDER BY mean_engagement DESC")
    return _query(sql, lambda columns, rows: "Segments, most engaged first:\n" + "\n".join(
        f"- {row[0]}: {_i(row[1])} customers, mean engagement {_n(row[2])}, churn probability {_n(row[3])}, "
        f"median lifetime value ${_n(row[4])}, {_n(row[5])} logins a day" for row in rows))


def _churn_by(text: str, where: Filter | None) -> Plan:
    """30-day churn by decile of engagement (or of the feature the question names)."""
    column = next((c for c in columns_named(text) if c in NUMERIC), ENGAGEMENT)
    churned = "CASE WHEN churn_30_day THEN 1.0 ELSE 0.0 END"
    sql = (f"SELECT decile, min({column}) AS lowest, max({column}) AS highest, avg({churned}) AS churn_rate, "
           f"count(*) AS customers, sum(sum({churned})) OVER () / sum(count(*)) OVER () AS overall_churn_rate "
           f"FROM (SELECT {column}, churn_30_day, ntile(10) OVER (ORDER BY {column}) AS decile FROM {CUSTOMERS}) "
           "GROUP BY decile ORDER BY decile")

    def compose(columns, rows):
        overall = rows[0][5]
        above = [r for r in rows if float(r[3]) > float(overall)]
        lines = "\n".join(f"- {words(column)} {_n(r[1])} to {_n(r[2])}: churn rate {_n(r[3])}" for r in rows)
        spans = (f"{words(column)} from {_n(above[0][1])} to {_n(above[-1][2])}" if above else "")
        where_above = (f"Churn runs above the average rate ({_n(overall)}) for {spans}." if above
                       else f"No decile churns above the average rate ({_n(overall)}).")
        return f"30-day churn by decile of {words(column)}:\n{lines}\n{where_above}"
    return _query(sql, compose)


# --- intents over the models: what-if and the knowledge base -----------------------------------------

_SCENARIO_COLUMNS = {scenario.column: scenario for scenario in SCENARIOS}


def _what_if(text: str, where: Filter | None) -> Plan | None:
    scenario = next((_SCENARIO_COLUMNS[c] for c in columns_named(text) if c in _SCENARIO_COLUMNS), None)
    if scenario is None:
        return None

    def compose(result: dict) -> str:
        return (f"What-if ({result['description']}), scored with the published run's models: "
                f"{_i(result['customers_changed'])} of {_i(result['customers'])} customers change; mean predicted "
                f"engagement {_n(result['mean_engagement_before'])} -> {_n(result['mean_engagement_after'])} "
                f"({_signed(result['engagement_change'])}); among the changed customers "
                f"{_n(result['changed_mean_engagement_before'])} -> {_n(result['changed_mean_engagement_after'])}; "
                f"expected churners {_signed(result['expected_churners_change'])}; predicted lifetime value (median "
                f"estimate, summed over customers) {_signed(result['ltv_p50_change_usd'])} USD. The data holds no cost "
                f"of the change, so the cost side is yours to set against these.\n\nSource: {result['source']}")
    return Plan("what_if", {"scenario": scenario.name}, compose)


def _knowledge(query: str, pick: Callable[[list[str]], list[str]], title: str) -> Plan:
    def compose(result: dict) -> str:
        lines = [line.strip() for r in result["results"] for line in r["text"].splitlines() if line.strip()]
        picked = pick(lines)
        if not picked:
            return f"The published run's documents hold nothing on {title}.\n\nSource: {result['source']}"
        heading = f"{title.capitalize()} (run {result['run_id']}):"
        return "\n".join([heading, *picked]) + f"\n\nSource: {result['source']}"
    return Plan("search_knowledge_base", {"query": query}, compose)


def _ranked(lines: list[str]) -> list[str]:
    """Numbered "rank. feature (importance)" lines, in rank order whatever order they were retrieved in."""
    ranked = {line for line in lines if re.match(r"^\d+\. \S+ \(", line)}
    return sorted(ranked, key=lambda line: int(line.split(".")[0]))


def _importance(text: str, where: Filter | None) -> Plan:
    count = int(m.group(1)) if (m := re.search(r"(?:top|bottom|least important)\s+(\d+)", text)) else 5
    if re.search(r"least|bottom", text):
        return _knowledge("least important features", lambda lines: _ranked(lines)[-count:],
                          f"the {count} least important features to the engagement model (mean absolute contribution)")
    return _knowledge("most important features", lambda lines: _ranked(lines)[:count],
                      f"the {count} features that matter most to predicted engagement (mean absolute contribution)")


def _accuracy(text: str, where: Filter | None) -> Plan:
    wanted = ("Overfitting",) if "overfit" in text else ("Engagement:", "Churn (30 days):", "Overfitting")
    return _knowledge("model performance R² RMSE accuracy overfitting check",
                      lambda lines: [line for line in lines if any(w in line for w in wanted)],
                      "overfitting check" if "overfit" in text else "model performance on the held-out test split")


def _quality(text: str, where: Filter | None) -> Plan:
    return _knowledge("data quality problems rows quarantined drift",
                      lambda lines: [line for line in lines
                                     if line.startswith(("- Rows", "- Data quality", "- Drift"))],
                      "data quality")


# --- wording -----------------------------------------------------------------------------------------

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


def _signed(value) -> str:
    return ("+" if value is not None and float(value) >= 0 else "") + _n(value)


def _i(value) -> str:
    return f"{int(float(value)):,}"


def _words(*options: str) -> Callable[[str], bool]:
    return lambda text: any(re.search(rf"\b{option}", text) for option in options)


_INTENTS: tuple[tuple[Callable[[str], bool], Callable[[str, Filter | None], Plan | None]], ...] = (
    (_words("what if", "if we", "uplift", "convert", "incentiv", "cost-benefit"), _what_if),
    (_words("least important", "most important", "importan(?:ce|t) features", r"top \d+ features",
            "features (?:that )?predict"), _importance),
    (_words("overfit", "accura", "rmse", "r²", "r2", "model perform"), _accuracy),
    (_words("missing", "data quality", "quality issue", "quarantin"), _quality),
    (_words(r"(?:summary )?statistics for all", "all (?:the )?features"), _feature_stats),
    (lambda text: True, _statistic),  # the question parser: any statistic of any column
    (lambda text: "churn" in text and _words("threshold", "indicate", "predict")(text), _churn_by),
    (_words("differentiate", "separate", "distinguish", "profile", "typical", "change one", "intervention",
            "retain", "warning sign", "increase engagement"), _contrast),
    (_words("quartile"), _quartiles),
    (_words("segment", "persona", "power user", "archetype"), _segments),
    (lambda text: bool(re.search(r"(>=|<=|>|<)\s*\d", text)), _split),
    (_words("correlat", "relationship", "impact", "affect", "role", "predict", "drive", "important",
            "engage more"), _correlation),
    (_words("distribution", "summary", "statistic", "average", "mean"), _feature_stats),
    (_words("engag"), _compare),
)
_CATCH_ALL = (_feature_stats, _compare)  # intents that take any question naming a column
