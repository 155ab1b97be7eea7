"""The question parser: a statistic question as measure × aggregation × grouping × filters ×
comparison × ranking, resolved against the contract's vocabulary (planner.vocabulary), then one
SQL statement over the assistant's view that computes every number the answer states.

    parse("What is the average LTV of churned vs retained customers?")
    -> Statistic(aggregation="mean", measure="lifetime_value_usd", group="churn_30_day", ...)

A question is the parser's when it asks for a statistic (an aggregation word, a ranking word, or two
values of one attribute compared). Every content word must then be understood: a word the
vocabulary does not know makes the answer a refusal that names it (`Unknown`), never a number from
a plan half understood. A question with no statistic cue is left to the intents (None).
"""

import re
from dataclasses import dataclass, field

from planner.vocabulary import BOOLEAN, CUSTOMERS, NUMERIC_ALL, Mention, mentions, words

# --- the words of a statistic ------------------------------------------------------------------------

AGGREGATION_CUES: tuple[tuple[str, str], ...] = (  # (pattern, aggregation); the first that matches wins
    (r"\bcorrelat\w*|\brelationship between\b|\bassociat\w* between\b", "corr"),
    (r"\bstandard deviation\b|\bstd\b|\bstdev\b|\bvariability\b|\bspread\b|\bhow much does .* vary\b", "stddev"),
    (r"\bmedian\b|\bmiddle value\b|\btypical\b", "median"),
    (r"\b(\d{1,2})(?:st|nd|rd|th)? percentile\b|\bp(\d{1,2})\b", "percentile"),
    (r"\bhow many\b|\bnumber of (?:customers|users|people|members|accounts)\b|\bcount of\b|\bcount\b|"
     r"\bheadcount\b|\bhow big\b|\bsize of\b|\bpopular\b|\bmost common\b|\bleast common\b", "count"),
    (r"\bshare\b|\bpercent(?:age)?\b|\bproportion\b|\bfraction\b|%|\brate\b|\bhow common\b", "share"),
    (r"\btotal\b|\bsum\b|\bcombined\b|\baltogether\b|\bin all\b", "sum"),
    (r"\bminimum\b|\bmin\b|\bsmallest value\b", "min"),
    (r"\bmaximum\b|\bmax\b|\blargest value\b|\bbiggest value\b", "max"),
    (r"\baverage\b|\bmean\b|\bavg\b|\bon average\b", "mean"),
)
HIGH = r"highest|most|largest|biggest|greatest|best|top|longest|oldest"
LOW = r"lowest|least|fewest|smallest|worst|bottom|shortest|youngest"
MORE = r"more|higher|larger|bigger|greater|longer|better"  # comparatives: one group against the rest
LESS = r"less|lower|smaller|fewer|shorter|worse"
COMPARISON_OPERATORS: tuple[tuple[str, str], ...] = (
    (r">=|at least|no less than|or more", ">="), (r"<=|at most|no more than|or less|or fewer", "<="),
    (r">|more than|over|above|greater than|higher than|exceeding|exceeds", ">"),
    (r"<|less than|fewer than|under|below|lower than", "<"),
)
NUMBER = r"(-?\d+(?:\.\d+)?)"
# What before an attribute's name makes it the grouping: "by device", "which state", "top 5 states".
GROUP_CUE = (r"\b(?:by|across|per|each|every|which|what|between|among|over|(?:top|bottom|best|worst) \d+|"
             r"most common|least common)\s+(?:\w+\s+)?$")
# Words a statistic question may hold besides the vocabulary's names: question words, the
# aggregation and ranking words, and the people counted. Anything else is a word not understood.
KNOWN_WORDS = frozenset("""
a about across all along also among amongst an and any are as at average avg based be been being between biggest
bottom broken but by can compare compared comparing comparison could count customer customers data do does each
every for from give group grouped groups has have having highest how i in is it its just least let list lowest
many me mean median members most much my of on or our over overall people percent percentage per percentile
population proportion quartile quartiles rank ranked ranking rate ratio s say segment separately share show
split than that the their them there these they this those to top total user users value values versus vs
was we were what when where which who whom whose with within would you your
number base our among group's breakdown break down against side spread standard deviation typical
expected median maximum minimum max min sum combined altogether highest lowest largest smallest
greatest fewest best worst more less higher lower larger smaller bigger fewer longest shortest
percentiles decile deciles quartile band bands tell please cohort cohorts category categories kind kinds type types
level levels one ones other others versus both either neither only than then also vary varies differ differs
different difference differences whole entire everyone everybody person individuals individual account holders
portion fraction likely often common how's what's which's who's isn't aren't don't doesn't
day days week weeks month months hour hours minute minutes usd dollars score scores
there's are is get got see find tell know want need like look times time fans fan lovers use uses using used among long
generate generates earn earns make makes bring brings
""".split())
WORD = re.compile(r"[a-z][a-z']*")


@dataclass(frozen=True)
class Condition:
    column: str
    operator: str  # = > >= < <= IN
    value: object  # a number, a bool, a string, or a tuple of strings (IN)

    def sql(self) -> str:
        if isinstance(self.value, bool):
            return self.column if self.value else f"NOT {self.column}"
        if isinstance(self.value, tuple):
            return f"{self.column} IN ({', '.join(_literal(v) for v in self.value)})"
        return f"{self.column} {self.operator} {_literal(self.value)}"

    def describe(self) -> str:
        if isinstance(self.value, bool):
            return f"{self.column} = {str(self.value).lower()}"
        if isinstance(self.value, tuple):
            return f"{self.column} in ({', '.join(map(str, self.value))})"
        return f"{self.column} {self.operator} {self.value:g}" if isinstance(self.value, float) else \
            f"{self.column} {self.operator} {self.value}"


@dataclass(frozen=True)
class Band:
    """A numeric measure cut into bands: quartiles, deciles, or either side of a stated threshold."""

    column: str
    bands: int = 4  # quartiles; 10: deciles; 2 with a threshold

    def describe(self) -> str:
        return f"{'quartile' if self.bands == 4 else 'decile'} of {self.column}"


@dataclass(frozen=True)
class Statistic:
    aggregation: str  # mean median pNN share count sum min max stddev corr
    measure: "str | Condition | None"  # None: customers counted; a condition: the share that meets it
    other: str | None = None  # corr's second measure
    group: str | Band | None = None
    filters: tuple[Condition, ...] = ()
    order: str | None = None  # "desc" or "asc": groups ranked
    limit: int | None = None  # top / bottom N groups

    def describe(self) -> str:
        """The plan in one line (the evaluation set's form)."""
        measure = self.measure.describe() if isinstance(self.measure, Condition) else self.measure
        measure = f"{measure}, {self.other}" if self.other else (measure or "customers")
        text = f"{self.aggregation}({measure})"
        if self.group is not None:
            text += f" by {self.group.describe() if isinstance(self.group, Band) else self.group}"
        if self.filters:
            text += " where " + " and ".join(c.describe() for c in self.filters)
        if self.order:
            text += f" {'top' if self.order == 'desc' else 'bottom'}" + (f" {self.limit}" if self.limit else "")
        return text


@dataclass(frozen=True)
class Unknown:
    """A statistic question with words the vocabulary does not know."""

    words: tuple[str, ...]

    def describe(self) -> str:
        return "unknown(" + ", ".join(self.words) + ")"


@dataclass
class _Reading:
    text: str
    found: list[Mention]
    used: list[tuple[int, int]] = field(default_factory=list)  # spans taken by cues, numbers, conditions


def parse(question: str) -> Statistic | Unknown | None:
    text = _normalised(question)
    reading = _Reading(text, mentions(text))
    aggregation, percentile = _aggregation(reading)
    order, limit = _ranking(reading)
    filters, compared = _conditions(reading)
    group = _group(reading)
    if aggregation is None and order is None and compared is None:
        return None  # no statistic asked for: the intents' question
    unknown = _unknown_words(reading)
    if unknown:
        return Unknown(unknown)
    return _assembled(reading, aggregation, percentile, order, limit, filters, compared, group)


def _assembled(reading, aggregation, percentile, order, limit, filters, compared, group) -> Statistic | None:
    taken = {c.column for c in filters} | ({group.column if isinstance(group, Band) else group} - {None})
    measures = [m.column for m in reading.found if m.value is None and m.column not in taken
                and (m.column in NUMERIC_ALL or m.column in BOOLEAN)]
    if aggregation == "corr":
        numeric = [c for c in dict.fromkeys(measures) if c in NUMERIC_ALL]
        if not numeric:
            return None
        other = numeric[1] if len(numeric) > 1 else "engagement_score"
        return Statistic("corr", numeric[0], other if other != numeric[0] else None, None, tuple(filters))
    measure = measures[0] if measures else None
    if order in ("more", "less"):  # "do premium users engage more": premium against the rest
        named = [c for c in filters if c.operator == "=" and not isinstance(c.value, bool)]
        if group is None and compared is None and named:
            group, filters = named[0].column, [c for c in filters if c is not named[0]]
        if group is None and compared is None:
            return None
        order = None
    if group is None and order is not None and measure is None:
        return None
    if group is None and order is not None and aggregation is None:
        aggregation = "max" if order == "desc" else "min"  # "the highest X": a maximum
        order = limit = None
    if measure in BOOLEAN and aggregation in (None, "mean", "share"):
        aggregation = "share"
    elif measure in BOOLEAN and aggregation == "count":
        filters, measure = [*filters, Condition(measure, "=", True)], None
    flags = [c for c in filters if c.column in BOOLEAN and c.value is True]
    if measure is None and aggregation == "share" and flags:  # "what share churned": the flag's share
        measure, filters = flags[0].column, [c for c in filters if c is not flags[0]]
        aggregation = "share"
    named = [c for c in filters if c.operator == "=" and not isinstance(c.value, bool)]
    if measure is None and aggregation == "share" and named:  # "what % are premium": the value's share
        measure, filters = named[-1], [c for c in filters if c is not named[-1]]
    if measure is None and aggregation not in ("count", None):
        return None  # an average of nothing named
    if measure is None:
        aggregation = "count"
    aggregation = aggregation or "mean"
    if aggregation == "percentile":
        aggregation = f"p{percentile}"
    if compared is not None:
        column, values = compared
        group = group or column
        if values:
            filters = [*filters, Condition(column, "IN", values)]
    return Statistic(aggregation, measure, None, group, tuple(filters), order if group is not None else None,
                     limit if group is not None else None)


# --- reading the question ----------------------------------------------------------------------------

def _normalised(question: str) -> str:
    text = question.lower().replace("’", "'").replace("–", "-")
    text = re.sub(r"\bvs\.?(?=\s)|\bversus\b", " vs ", text)
    return re.sub(r"[?!,;:()\"]", " ", text)


def _take(reading: _Reading, match: re.Match) -> None:
    reading.used.append(match.span())


def _free(reading: _Reading, start: int, end: int) -> bool:
    """Whether the span is in no column name (so a cue word inside "total connections" is not a cue)."""
    return not any(m.start < end and start < m.end for m in reading.found)


def _aggregation(reading: _Reading) -> tuple[str | None, int | None]:
    for pattern, aggregation in AGGREGATION_CUES:
        for match in re.finditer(pattern, reading.text):
            if not _free(reading, *match.span()):
                continue
            if aggregation == "share" and match.group(0) == "rate" and not _rate_of_a_flag(reading):
                continue  # "click rate" is a column; "churn rate" a share
            _take(reading, match)
            if aggregation == "percentile":
                return "percentile", int(match.group(1) or match.group(2))
            return aggregation, None
    return None, None


def _rate_of_a_flag(reading: _Reading) -> bool:
    return any(m.column in BOOLEAN for m in reading.found)


def _ranking(reading: _Reading) -> tuple[str | None, int | None]:
    count = r"(?:(\d+)\s+)?"
    for pattern, order in ((rf"\b(?:top|best)\s+(\d+)\b|\b(\d+)\s+(?:{HIGH})\b", "desc"),
                           (rf"\b(?:bottom|worst)\s+(\d+)\b|\b(\d+)\s+(?:{LOW})\b", "asc"),
                           (rf"\b{count}(?:{HIGH})\b", "desc"), (rf"\b{count}(?:{LOW})\b", "asc"),
                           (rf"\b(?:{MORE})\b", "more"), (rf"\b(?:{LESS})\b", "less")):
        for match in re.finditer(pattern, reading.text):
            if not _free(reading, *match.span()) or _inside_condition(reading, match):
                continue
            _take(reading, match)
            number = next((g for g in match.groups() if g), None)
            return order, int(number) if number else None
    return None, None


def _inside_condition(reading: _Reading, match: re.Match) -> bool:
    """"more than 5 logins" is a condition, not a ranking."""
    return bool(re.match(rf"\s*(?:than|{NUMBER})", reading.text[match.end():]))


def _conditions(reading: _Reading) -> tuple[list[Condition], tuple[str, tuple] | None]:
    """Filters ("with more than 5 daily logins", "premium users", "who churned") and what is
    compared: (column, values) for "mobile vs desktop", (flag, ()) for "churned vs retained"."""
    filters = _thresholds(reading)
    values: dict[str, list[Mention]] = {}
    for mention in reading.found:
        if mention.value is not None:
            values.setdefault(mention.column, []).append(mention)
    compared = None
    for column, named in values.items():
        distinct = tuple(dict.fromkeys(m.value for m in named))
        if len(distinct) == 1:
            filters.append(Condition(column, "=", distinct[0]))
        else:
            compared = (column, () if isinstance(distinct[0], bool) else distinct)
    return filters, compared


def _thresholds(reading: _Reading) -> list[Condition]:
    found = []
    operators = "|".join(f"(?:{pattern})" for pattern, _ in COMPARISON_OPERATORS)
    for mention in reading.found:
        if mention.column not in NUMERIC_ALL or mention.value is not None:
            continue
        after = re.compile(rf"\s*(?:is|are|of|=)?\s*({operators})\s*{NUMBER}")
        before = re.compile(rf"({operators})\s*{NUMBER}\s*(?:\w+\s+)?$")
        match = after.match(reading.text, mention.end)
        if match is None:
            match = before.search(reading.text, 0, mention.start)
        if match is None:
            continue
        operator = next(op for pattern, op in COMPARISON_OPERATORS if re.fullmatch(pattern, match.group(1)))
        found.append(Condition(mention.column, operator, float(match.group(2))))
        _take(reading, match)
        mention.used = True
    return found


def _group(reading: _Reading) -> str | Band | None:
    text = reading.text
    band = re.search(r"\b(quartile|decile)s?\b", text)
    if band:
        numeric = [m for m in reading.found if m.column in NUMERIC_ALL and m.value is None and not m.used]
        if numeric:
            _take(reading, band)
            anchor = min(numeric, key=lambda m: abs(m.start - band.start()))
            anchor.used = True
            return Band(anchor.column, 4 if band.group(1) == "quartile" else 10)
    for mention in reading.found:
        if mention.value is not None or mention.used or mention.column in NUMERIC_ALL:
            continue
        before = text[max(0, mention.start - 24):mention.start]
        if re.search(GROUP_CUE, before) \
                or re.match(r"\s*(?:breakdown|split|-by)", text[mention.end:]):
            mention.used = True
            return mention.column
    return None


def _unknown_words(reading: _Reading) -> tuple[str, ...]:
    """Words of the question in no column name, cue, number or condition, and not known."""
    spans = [(m.start, m.end) for m in reading.found] + reading.used
    unknown = []
    for match in WORD.finditer(reading.text):
        word = match.group(0).strip("'")
        if any(start <= match.start() < end for start, end in spans) or len(word) < 3:
            continue
        if word in KNOWN_WORDS or word.rstrip("s") in KNOWN_WORDS or word.removesuffix("'s") in KNOWN_WORDS:
            continue
        unknown.append(word)
    return tuple(dict.fromkeys(unknown))


# --- the SQL -----------------------------------------------------------------------------------------

def _literal(value) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return f"{value:g}" if isinstance(value, float) else str(value)


def aggregate_sql(statistic: Statistic) -> str:
    """The one expression the statistic is."""
    m = statistic.measure
    if statistic.aggregation == "count":
        return "count(*)"
    if statistic.aggregation == "share":
        return f"avg(CASE WHEN {m.sql() if isinstance(m, Condition) else m} THEN 1.0 ELSE 0.0 END)"
    if statistic.aggregation == "median":
        return f"approx_percentile({m}, 0.5)"
    if statistic.aggregation.startswith("p"):
        return f"approx_percentile({m}, {int(statistic.aggregation[1:]) / 100:g})"
    if statistic.aggregation == "corr":
        return f"corr({m}, {statistic.other or 'engagement_score'})"
    function = {"mean": "avg", "stddev": "stddev", "sum": "sum", "min": "min", "max": "max"}[statistic.aggregation]
    return f"{function}({m})"


def statement(statistic: Statistic, also: str | None = None) -> str:
    """The statistic's SQL; `also`: one more condition, already SQL (a filter phrase the intents read)."""
    conditions = [*([also] if also else []), *(c.sql() for c in statistic.filters)]
    where = " WHERE " + " AND ".join(conditions) if conditions else ""
    value = aggregate_sql(statistic)
    if statistic.group is None:
        return f"SELECT {value} AS value, count(*) AS customers FROM {CUSTOMERS}{where}"
    if isinstance(statistic.group, Band):
        band = statistic.group
        source = (f"(SELECT *, ntile({band.bands}) OVER (ORDER BY {band.column}) AS band FROM {CUSTOMERS}{where})")
        return (f"SELECT band, min({band.column}) AS band_from, max({band.column}) AS band_to, {value} AS value, "
                f"count(*) AS customers FROM {source} GROUP BY band ORDER BY band")
    direction = "DESC" if statistic.order != "asc" else "ASC"
    limit = f" LIMIT {statistic.limit}" if statistic.limit else ""
    return (f"SELECT {statistic.group}, {value} AS value, count(*) AS customers FROM {CUSTOMERS}{where} "
            f"GROUP BY {statistic.group} ORDER BY value {direction}{limit}")


# --- the words of the answer -------------------------------------------------------------------------

AGGREGATION_WORDS = {"mean": "mean", "median": "median", "share": "share", "count": "number of customers",
                     "sum": "total", "min": "minimum", "max": "maximum", "stddev": "standard deviation",
                     "corr": "correlation"}


def title(statistic: Statistic) -> str:
    aggregation = statistic.aggregation
    name = AGGREGATION_WORDS.get(aggregation) or f"{aggregation[1:]}th percentile"
    if aggregation == "count":
        head = "Customers"
    elif aggregation == "corr":
        other = words(statistic.other or "engagement_score")
        head = f"Correlation (Pearson) of {words(statistic.measure)} with {other}"
    elif aggregation == "share":
        measure = statistic.measure
        named = _condition_words(measure) if isinstance(measure, Condition) else words(measure)
        head = f"Share of customers with {named}"
    else:
        head = f"{name.capitalize()} {words(statistic.measure)}"
    conditions = [c for c in statistic.filters if c.operator != "IN"]
    if conditions:
        head += " among customers with " + " and ".join(_condition_words(c) for c in conditions)
    return head


def _condition_words(condition: Condition) -> str:
    if isinstance(condition.value, bool):
        return words(condition.column) if condition.value else f"no {words(condition.column)}"
    if condition.operator == "=":
        return f"{words(condition.column)} {condition.value}"
    return f"{words(condition.column)} {condition.operator} {condition.value:g}"
