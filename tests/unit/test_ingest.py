"""Ingest: every bad input gets a clear message naming the column and line; no row is lost."""

import base64
import csv
import io
import json

import pyarrow.parquet as pq
import pytest

from datagen.generator import GeneratorConfig
from datagen.writer import write_dataset
from engagement.ingest import IngestError, ingest_csv
from engagement.schema import COLUMN_NAMES, PII_COLUMNS
from engagement.tokenize import Tokenizer

KEY = b"k" * 32


@pytest.fixture(scope="module")
def clean_csv(tmp_path_factory) -> bytes:
    out = tmp_path_factory.mktemp("gen")
    write_dataset(GeneratorConfig(rows=300, seed=5), out, progress=None)
    return (out / "customers.csv").read_bytes()


class Result:
    def __init__(self, report, bronze: bytes, quarantine: bytes):
        self.report = report
        self.summary = report.to_dict()
        self.bronze = pq.read_table(io.BytesIO(bronze)) if bronze else None
        self.quarantine = [json.loads(line) for line in quarantine.splitlines()]

    def reasons_on(self, line: int) -> list[str]:
        return [r["message"] for q in self.quarantine if q["line"] == line for r in q["reasons"]]

    def values_on(self, line: int) -> list[str | None]:
        return [r.get("value") for q in self.quarantine if q["line"] == line for r in q["reasons"]]


def run(data: bytes, block_bytes: int = 1 << 20) -> Result:
    bronze, quarantine = io.BytesIO(), io.BytesIO()
    report = ingest_csv(io.BytesIO(data), bronze=bronze, quarantine=quarantine, tokenizer=Tokenizer(KEY),
                        source_name="customers.csv", block_bytes=block_bytes)
    result = Result(report, bronze.getvalue(), quarantine.getvalue())
    assert result.summary["reconciled"]
    assert len(result.quarantine) == report.rows_quarantined
    assert (result.bronze.num_rows if result.bronze is not None else 0) == report.rows_accepted
    return result


def lines_of(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def set_field(data: bytes, line: int, column: str, value: bytes) -> bytes:
    """Replace one field on a physical line (1-based; line 1 is the header)."""
    lines = lines_of(data)
    fields = lines[line - 1].split(b",")
    fields[COLUMN_NAMES.index(column)] = value
    lines[line - 1] = b",".join(fields)
    return b"\n".join(lines)


def test_clean_file_is_accepted_whole_with_pii_tokenized(clean_csv):
    result = run(clean_csv)
    assert result.summary["rows_in"] == result.summary["rows_accepted"] == 300
    names = result.bronze.column_names
    assert not set(PII_COLUMNS) & set(names)
    assert {f"{c}_token" for c in PII_COLUMNS} <= set(names)
    tokens = result.bronze["email_token"].to_pylist()
    assert all(len(t) == 32 and "@" not in t for t in tokens)
    first_email = lines_of(clean_csv)[1].split(b",")[2].strip(b'"').decode()
    assert tokens[0] == Tokenizer(KEY).token(first_email)


def test_a_header_missing_a_contract_column_refuses_the_file_naming_it(clean_csv):
    lines = [b",".join(f for i, f in enumerate(line.split(b",")) if i != COLUMN_NAMES.index("age"))
             for line in lines_of(clean_csv)]
    bronze, quarantine = io.BytesIO(), io.BytesIO()
    with pytest.raises(IngestError, match="1 contract columns are missing: age") as refused:
        ingest_csv(io.BytesIO(b"\n".join(lines)), bronze=bronze, quarantine=quarantine, tokenizer=Tokenizer(KEY),
                   source_name="customers.csv")
    assert refused.value.header["missing_columns"] == ["age"]
    assert bronze.getvalue() == quarantine.getvalue() == b"", "a refused file writes nothing"


def test_another_projects_header_is_one_clear_refusal_with_suggestions(clean_csv):
    """Same domain, other column names: 20,000 quarantined rows each repeating the header
    problem helped nobody; one refusal naming what is missing and what is unknown does."""
    renamed = {"customer_id": "customerId", "avg_daily_logins": "avg_logins_daily", "age": "user_age"}
    header = ",".join(renamed.get(name, name) for name in COLUMN_NAMES).encode()
    data = b"\n".join([header, *lines_of(clean_csv)[1:]])
    with pytest.raises(IngestError) as refused:
        run(data)
    message = str(refused.value)
    assert "3 contract columns are missing: customer_id, age, avg_daily_logins" in message
    assert "customerId (did you mean customer_id?)" in message and "user_age (did you mean age?)" in message
    assert refused.value.header["suggestions"]["avg_logins_daily"] == "avg_daily_logins"


def test_a_data_row_taken_for_a_header_is_not_echoed(clean_csv):
    """A file without its header: the first row's fields are personal data, so they are counted."""
    data = b"\n".join(lines_of(clean_csv)[1:])
    with pytest.raises(IngestError) as refused:
        run(data)
    first_row = lines_of(clean_csv)[1].decode()
    email = next(csv.reader([first_row]))[2]
    assert email not in str(refused.value) and email not in json.dumps(refused.value.header)
    assert "do not look like column names, not shown" in str(refused.value)


def test_extra_column_is_ignored_with_a_warning(clean_csv):
    lines = [line + (b",note" if i == 0 else b",x") for i, line in enumerate(lines_of(clean_csv)[:-1])]
    result = run(b"\n".join(lines) + b"\n")
    assert result.summary["rows_accepted"] == 300
    assert result.summary["header"]["extra_columns"] == ["note"]
    assert "note" in result.summary["warnings"][0]
    assert "note" not in result.bronze.column_names


def test_duplicate_header_column_refuses_the_file(clean_csv):
    lines = lines_of(clean_csv)
    lines = [line + b"," + line.split(b",")[4] for line in lines[:-1]]
    with pytest.raises(IngestError, match="columns appear more than once: age") as refused:
        run(b"\n".join(lines) + b"\n")
    assert refused.value.header["duplicate_columns"] == ["age"]


@pytest.mark.parametrize(
    ("column", "value", "code", "message"),
    [
        ("age", b"abc", "wrong_type", "age: the value is not an integer"),
        ("age", b"33.5", "wrong_type", "age: the value is not an integer"),
        ("avg_daily_logins", b"many", "wrong_type", "avg_daily_logins: the value is not a number"),
        ("avg_daily_logins", b"nan", "wrong_type", "avg_daily_logins: the value is not a number"),
        ("churn_30_day", b"maybe", "wrong_type", "churn_30_day: the value is not a boolean (true/false)"),
        ("age", b"", "missing_value", "age: missing value"),
        ("customer_id", b"", "missing_value", "customer_id: missing value"),
        ("customer_id", b"CUST 1;", "bad_format", "customer_id: the value is not 1-64 letters, digits, '-' or '_'"),
        ("age", b"17", "out_of_range", "age: the value is below the minimum 18"),
        ("notification_click_rate", b"1.5", "out_of_range", "notification_click_rate: the value is above the maximum 1"),
        ("gender", b"X", "not_allowed", "gender: the value is not one of M, F, Other"),
        ("signup_date", b"2024-02-30", "wrong_type", "signup_date: the value is not a date (YYYY-MM-DD)"),
        ("full_name", b"", "missing_value", "full_name: missing value"),
    ],
)
def test_bad_values_are_quarantined_with_the_column_and_line(clean_csv, column, value, code, message):
    result = run(set_field(clean_csv, 7, column, value))
    assert result.summary["rows_accepted"] == 299
    assert result.summary["quarantined_by_reason"] == {code: 1}
    assert result.reasons_on(7) == [message]
    assert result.summary["examples"] == [{"line": 7, "reasons": [message]}]
    assert result.values_on(7) == [value.decode() or None]  # the value stays in the quarantine, by its reason


def test_pii_values_never_appear_in_messages(clean_csv):
    result = run(set_field(clean_csv, 3, "signup_date", b"Jan 5th"))
    assert "Jan 5th" not in json.dumps(result.summary)
    assert result.reasons_on(3) == ["signup_date: the value is not a date (YYYY-MM-DD)"]


def test_personal_data_in_the_wrong_column_never_reaches_the_report(clean_csv):
    """Masking by column name missed an email typed into device_type."""
    result = run(set_field(clean_csv, 4, "device_type", b"jane.doe@example.com"))
    assert "jane.doe@example.com" not in json.dumps(result.summary)
    assert result.reasons_on(4) == ["device_type: the value is not one of mobile, desktop, tablet"]
    assert result.values_on(4) == ["jane.doe@example.com"]


def test_nullable_columns_accept_empty_values(clean_csv):
    data = set_field(set_field(clean_csv, 4, "avg_job_completion_rating", b""),
                     4, "time_since_first_transaction_days", b"")
    result = run(data)
    assert result.summary["rows_accepted"] == 300
    assert result.bronze["avg_job_completion_rating"][2].as_py() is None


def test_whitespace_around_values_is_tolerated(clean_csv):
    result = run(set_field(clean_csv, 5, "age", b" 40 "))
    assert result.summary["rows_accepted"] == 300
    assert result.bronze["age"][3].as_py() == 40


def test_several_failures_on_one_row_are_all_reported_and_counted_once(clean_csv):
    data = set_field(set_field(clean_csv, 9, "age", b"200"), 9, "gender", b"?")
    result = run(data)
    assert result.summary["rows_quarantined"] == 1
    assert result.reasons_on(9) == ["age: the value is above the maximum 65", "gender: the value is not one of M, F, Other"]
    assert result.summary["failures_by_column"] == {"age:out_of_range": 1, "gender:not_allowed": 1}


def test_duplicate_ids_keep_the_first_and_quarantine_the_rest(clean_csv):
    first_id = lines_of(clean_csv)[1].split(b",")[0]
    result = run(set_field(clean_csv, 50, "customer_id", first_id))
    assert result.summary["quarantined_by_reason"] == {"duplicate_id": 1}
    customer_id = first_id.strip(b'"').decode()
    assert result.reasons_on(50) == ["customer_id: the value is already on line 2"]
    assert result.values_on(50) == [customer_id]


def test_empty_file_is_refused_with_a_clear_message():
    with pytest.raises(IngestError, match="file is empty .0 bytes.; expected a header row naming the 52"):
        run(b"")


def test_header_only_is_refused(clean_csv):
    with pytest.raises(IngestError, match="no data rows after the header"):
        run(lines_of(clean_csv)[0] + b"\n")


def test_bom_and_crlf_line_endings_are_accepted(clean_csv):
    data = b"\xef\xbb\xbf" + clean_csv.replace(b"\n", b"\r\n")
    result = run(data)
    assert result.summary["rows_accepted"] == 300
    assert result.bronze["customer_id"][0].as_py() == lines_of(clean_csv)[1].split(b",")[0].strip(b'"').decode()


def test_truncated_last_line_is_quarantined_with_its_line_number(clean_csv):
    truncated = clean_csv.rstrip(b"\n")[:-200]
    result = run(truncated)
    last_line = len(lines_of(truncated))
    assert result.summary["rows_accepted"] == 299
    assert result.summary["quarantined_by_reason"] == {"field_count": 1}
    [message] = result.reasons_on(last_line)
    assert message.startswith("the row has ") and message.endswith("fields, the header has 52 (truncated line?)")


def test_blank_lines_are_counted_and_line_numbers_stay_true(clean_csv):
    lines = lines_of(clean_csv)
    data = b"\n".join([*lines[:10], b"", *lines[10:]])
    data = set_field(data, 20, "age", b"x")
    result = run(data)
    assert result.summary["quarantined_by_reason"] == {"empty_row": 1, "wrong_type": 1}
    assert result.reasons_on(11) == ["the row is empty"]
    assert result.reasons_on(20) == ["age: the value is not an integer"]


def test_non_utf8_row_is_quarantined_with_its_bytes_kept(clean_csv):
    data = set_field(clean_csv, 12, "full_name", "Zoë Brontë".encode("latin-1"))
    result = run(data)
    assert result.summary["quarantined_by_reason"] == {"encoding": 1}
    assert result.reasons_on(12) == ["the row has bytes that are not UTF-8"]
    [entry] = result.quarantine
    assert "Zo\xeb".encode("latin-1") in base64.b64decode(entry["record_base64"])


def test_non_utf8_header_is_refused():
    with pytest.raises(IngestError, match="header row is not valid UTF-8"):
        run("customer_id,nämé\n1,2\n".encode("latin-1"))


def test_line_numbers_survive_small_blocks_and_mixed_failures(clean_csv):
    data = clean_csv
    bad_lines = {15: "age", 130: "gender", 260: "age"}
    for line, column in bad_lines.items():
        data = set_field(data, line, column, b"??")
    lines = lines_of(data)
    lines[99] = b"short,row"  # physical line 100
    data = b"\n".join(lines)
    result = run(data, block_bytes=4096)
    assert sorted(q["line"] for q in result.quarantine) == [15, 100, 130, 260]
    assert result.summary["rows_in"] == 300


def test_quarantined_record_is_the_original_row(clean_csv):
    data = set_field(clean_csv, 6, "age", b"old")
    result = run(data)
    [entry] = result.quarantine
    assert next(csv.reader([entry["record"]])) == next(csv.reader([lines_of(data)[5].decode()]))


def test_an_unclosed_quote_cannot_swallow_the_following_lines(clean_csv):
    lines = lines_of(clean_csv)
    lines[29] = lines[29][:20]  # physical line 30 ends inside the quoted email
    result = run(b"\n".join(lines))
    assert result.summary["rows_in"] == 300
    assert result.summary["quarantined_by_reason"] == {"unbalanced_quotes": 1}
    assert result.reasons_on(30) == ['the row has an unclosed quote (odd number of " characters)']
    [entry] = result.quarantine
    assert entry["record"].encode() == lines[29]


def test_cr_only_line_endings_are_read_as_lines(clean_csv):
    """Classic-Mac files raised an uncaught _csv.Error (the whole file read as one header line)."""
    result = run(clean_csv.replace(b"\n", b"\r"), block_bytes=8192)
    assert result.summary["rows_in"] == result.summary["rows_accepted"] == 300
    assert "lines end in CR alone" in result.summary["warnings"][0]


def test_a_row_longer_than_the_read_block_is_quarantined_not_the_whole_file(clean_csv):
    huge = b'"' + b"x" * 20_000 + b'"'
    result = run(set_field(clean_csv, 6, "device_type", huge), block_bytes=4096)
    assert result.summary["rows_in"] == 300 and result.summary["rows_accepted"] == 299
    assert result.summary["quarantined_by_reason"] == {"row_too_long": 1}
    [entry] = result.quarantine
    assert entry["line"] == 6 and huge.decode() in entry["record"]  # nothing is lost


def test_a_quoted_value_with_a_line_break_is_one_quarantined_row(clean_csv):
    lines = lines_of(clean_csv)
    fields = lines[7].split(b",")
    fields[1] = b'"Jane\nDoe"'
    lines[7] = b",".join(fields)  # physical lines 8-9 now hold one record
    data = set_field(b"\n".join(lines), 40, "age", b"x")  # line numbers after it stay physical
    result = run(data, block_bytes=4096)
    assert result.summary["rows_in"] == 300
    assert result.summary["quarantined_by_reason"] == {"embedded_newline": 1, "wrong_type": 1}
    assert result.reasons_on(8) == ["a quoted value spans 2 lines; values may not contain line breaks"]
    assert [q["line"] for q in result.quarantine] == [8, 40]
    assert "Jane\nDoe" in result.quarantine[0]["record"]
