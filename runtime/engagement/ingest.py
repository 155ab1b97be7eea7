"""Raw customer CSV -> validated bronze Parquet. Rejected rows are quarantined, never dropped.

The CSV is streamed in blocks (never loaded whole). Every field is read as bytes and checked
against the schema contract; a row with any failure goes to the quarantine file (JSON lines:
line number, every reason, the record's fields re-serialized as CSV — or base64 when they are not UTF-8) and every other row goes to bronze with its PII
replaced by keyed tokens. The report reconciles: rows_in = rows_accepted + rows_quarantined,
and the quarantine count splits exactly by each row's first reason.

Line numbers are physical lines of the file (the header is line 1). Line endings may be LF,
CRLF or CR alone. A record whose quoted value spans lines is one row (quarantined: values may not
contain line breaks); a row longer than half a read block is quarantined rather than failing the
file. Messages in the report never echo a value (it may be personal data in the wrong column);
the quarantine entry keeps the value beside its reason.

A header that cannot satisfy the contract (a missing or repeated contract column) refuses the
whole file: nothing is written, and the error names the missing and the unknown columns.
"""

import base64
import csv
import difflib
import io
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from engagement.arrow_schema import ARROW_TYPES, bronze_schema
from engagement.csv_lines import LineGuard, LineNumbers, with_lf_line_endings
from engagement.schema import COLUMN_NAMES, COLUMNS, ID_COLUMN, ID_PATTERN, Column, ColumnType, Pii
from engagement.tokenize import Tokenizer

BLOCK_BYTES = 4 << 20
MAX_EXAMPLES = 20
UTF8_BOM = b"\xef\xbb\xbf"

_INT = r"^[+-]?[0-9]{1,18}$"
_DOUBLE = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_BOOLEAN = {"true": True, "false": False, "1": True, "0": False}
_TYPE_WORDS = {ColumnType.INT: "an integer", ColumnType.DOUBLE: "a number", ColumnType.DATE: "a date (YYYY-MM-DD)",
               ColumnType.BOOLEAN: "a boolean (true/false)"}


class IngestError(Exception):
    """The file cannot be ingested at all (nothing was written)."""

    def __init__(self, message: str, header: dict | None = None) -> None:
        super().__init__(message)
        self.header = header or {}  # for a refused header: missing, unknown, suggestions


@dataclass(frozen=True)
class Failure:
    code: str  # encoding, unbalanced_quotes, embedded_newline, row_too_long, field_count, empty_row,
    #            missing_value, wrong_type, out_of_range, not_allowed, bad_format, duplicate_id
    column: str | None
    message: str  # never holds a value: messages reach reports and notifications
    value: str | None = None  # the offending value, for the quarantine entry only

    def to_dict(self) -> dict:
        entry = {"code": self.code, "column": self.column, "message": self.message}
        return entry if self.value is None else {**entry, "value": self.value}


@dataclass
class IngestReport:
    source: str
    rows_in: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    continuation_lines: int = 0  # further lines of multi-line records (quarantined with their first line)
    quarantined_by_reason: Counter = field(default_factory=Counter)
    failures_by_column: Counter = field(default_factory=Counter)
    missing_columns: list[str] = field(default_factory=list)
    extra_columns: list[str] = field(default_factory=list)
    duplicate_columns: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    examples: list[dict] = field(default_factory=list)

    @property
    def reconciled(self) -> bool:
        return (
            self.rows_in == self.rows_accepted + self.rows_quarantined
            and sum(self.quarantined_by_reason.values()) == self.rows_quarantined
        )

    def record(self, line: int, failures: list[Failure]) -> None:
        self.rows_quarantined += 1
        self.quarantined_by_reason[failures[0].code] += 1
        for failure in failures:
            self.failures_by_column[f"{failure.column or '(row)'}:{failure.code}"] += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append({"line": line, "reasons": [f.message for f in failures]})

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "rows_in": self.rows_in,
            "rows_accepted": self.rows_accepted,
            "rows_quarantined": self.rows_quarantined,
            "continuation_lines": self.continuation_lines,
            "reconciled": self.reconciled,
            "quarantined_by_reason": dict(sorted(self.quarantined_by_reason.items())),
            "failures_by_column": dict(sorted(self.failures_by_column.items())),
            "header": {
                "missing_columns": self.missing_columns,
                "extra_columns": self.extra_columns,
                "duplicate_columns": self.duplicate_columns,
            },
            "warnings": self.warnings,
            "examples": self.examples,
        }


def ingest_csv(
    source: BinaryIO,
    *,
    bronze: BinaryIO,
    quarantine: BinaryIO,
    tokenizer: Tokenizer,
    source_name: str,
    block_bytes: int = BLOCK_BYTES,
) -> IngestReport:
    """Stream `source` (CSV bytes) into `bronze` (Parquet) and `quarantine` (JSON lines)."""
    report = IngestReport(source=source_name)
    source, warning = with_lf_line_endings(source, block_bytes)
    if warning:
        report.warnings.append(warning)
    header = _read_header(source, source_name)
    position = _check_header(header, report, source_name)

    invalid_rows: list[tuple[int, str, int]] = []

    def on_invalid_row(row) -> str:
        invalid_rows.append((row.number, row.text, row.actual_columns))
        return "skip"

    guarded = LineGuard(source, first_line=2, block_bytes=block_bytes)
    reader = _open_reader(guarded, len(header), block_bytes, on_invalid_row, source_name)
    writer = pq.ParquetWriter(bronze, bronze_schema(), compression="snappy")
    lines = LineNumbers(first_data_line=2, absorbed=guarded.absorbed)
    seen_ids: dict[str, int] = {}

    def quarantine_invalid_rows() -> None:
        # The parser numbers the lines it reads after the header from 1 (lines the guard took
        # into a multi-line record never reach it).
        physical = [guarded.physical(number) for number, _, _ in invalid_rows]
        lines.exclude(physical)
        for line, (_, text, actual) in zip(physical, invalid_rows):
            _quarantine_invalid_row(quarantine, report, line, text.encode(), actual, len(header))
        report.rows_in += len(invalid_rows)
        invalid_rows.clear()

    try:
        for batch in reader:
            quarantine_invalid_rows()
            if batch.num_rows == 0:
                continue
            batch_lines = lines.take(batch.num_rows)
            report.rows_in += batch.num_rows
            accepted = _process_batch(batch, batch_lines, position, seen_ids, guarded.set_aside, quarantine, report)
            if accepted is not None and accepted.num_rows:
                writer.write_table(_tokenize(accepted, tokenizer))
                report.rows_accepted += accepted.num_rows
        quarantine_invalid_rows()
    except pa.ArrowInvalid as error:
        raise IngestError(f"{source_name}: cannot parse the CSV: {_without_content(error)}") from error
    finally:
        writer.close()
    report.continuation_lines = len(guarded.absorbed)
    _check_counts(report, source_name)
    return report


def _open_reader(guarded: LineGuard, columns: int, block_bytes: int, on_invalid_row, source_name: str):
    try:
        return _open_rows(pa.PythonFile(guarded, mode="r"), columns, block_bytes, on_invalid_row)
    except pa.ArrowInvalid as error:
        if "Empty CSV file" in str(error):
            raise IngestError(f"{source_name}: no data rows after the header") from error
        raise IngestError(f"{source_name}: cannot parse the CSV: {_without_content(error)}") from error


def _check_counts(report: IngestReport, source_name: str) -> None:
    if report.rows_in == 0:
        raise IngestError(f"{source_name}: no data rows after the header")
    if not report.reconciled:  # a bug, not bad input: refuse to publish unreconciled counts
        raise AssertionError(f"ingest counts do not reconcile: {report.to_dict()}")


def header_of(first_bytes: bytes, source_name: str) -> list[str]:
    """The header of a file from its first bytes, checked against the contract as ingest_csv checks
    it (IngestError naming what is wrong): lets a run refuse an upload of many files before any is read."""
    report = IngestReport(source=source_name)
    header = _read_header(io.BytesIO(first_bytes.replace(b"\r\n", b"\n").replace(b"\r", b"\n")), source_name)
    _check_header(header, report, source_name)
    return header


def _open_rows(source: BinaryIO, width: int, block_bytes: int, on_invalid_row) -> pacsv.CSVStreamingReader:
    """Every field as raw bytes: decoding, typing and range checks happen per column afterwards."""
    names = [f"f{i}" for i in range(width)]
    return pacsv.open_csv(
        source,
        read_options=pacsv.ReadOptions(column_names=names, use_threads=False, block_size=block_bytes),
        parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid_row, ignore_empty_lines=False),
        convert_options=pacsv.ConvertOptions(column_types={name: pa.binary() for name in names},
                                             strings_can_be_null=False),
    )


def _read_header(source: BinaryIO, source_name: str) -> list[str]:
    line = source.readline()
    if not line:
        raise IngestError(f"{source_name}: file is empty (0 bytes); expected a header row naming the "
                          f"{len(COLUMNS)} contract columns")
    if line.startswith(UTF8_BOM):
        line = line[len(UTF8_BOM):]
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as error:
        raise IngestError(f"{source_name}: the header row is not valid UTF-8 (byte {error.start}); "
                          "save the file as UTF-8") from error
    [names] = list(csv.reader([text.rstrip("\r\n")])) or [[]]
    return [name.strip() for name in names]


def _check_header(header: list[str], report: IngestReport, source_name: str) -> dict[str, int]:
    """Column positions; a header that cannot satisfy the contract refuses the whole file."""
    counts = Counter(header)
    report.duplicate_columns = sorted(name for name, count in counts.items() if count > 1 and name in COLUMN_NAMES)
    report.missing_columns = [name for name in COLUMN_NAMES if name not in counts]
    report.extra_columns = _shown_names([name for name in header if name not in set(COLUMN_NAMES)])
    if report.missing_columns or report.duplicate_columns:
        raise _header_refusal(report, source_name)
    if report.extra_columns:
        report.warnings.append(
            f"ignored columns not in the contract: {', '.join(report.extra_columns)} (kept only in the raw file)"
        )
    return {name: header.index(name) for name in COLUMN_NAMES if name in counts}


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_ .-]{0,63}$")


def _shown_names(names: list[str]) -> list[str]:
    """Header names safe to echo: column-like words. A first line that is a data row (a missing
    header) holds personal data; its fields are counted, not shown."""
    shown = [name for name in names if _NAME.match(name) and "@" not in name]
    hidden = len(names) - len(shown)
    return shown + ([f"({hidden} more that do not look like column names, not shown)"] if hidden else [])


def _header_refusal(report: IngestReport, source_name: str) -> IngestError:
    unknown = [name for name in report.extra_columns if not name.startswith("(")]
    suggestions = {name: match[0] for name in unknown
                   if (match := difflib.get_close_matches(name.lower(), report.missing_columns, n=1, cutoff=0.5))}
    parts = []
    if report.missing_columns:
        parts.append(f"{len(report.missing_columns)} contract columns are missing: " + ", ".join(report.missing_columns))
    if report.duplicate_columns:
        parts.append("columns appear more than once: " + ", ".join(report.duplicate_columns))
    if report.extra_columns:
        parts.append("columns not in the contract: " + ", ".join(
            f"{name} (did you mean {suggestions[name]}?)" if name in suggestions else name
            for name in report.extra_columns))
    return IngestError(
        f"{source_name}: the header cannot satisfy the contract, so no row was read; " + "; ".join(parts)
        + " (see docs/data_dictionary.md)",
        header={"missing_columns": report.missing_columns, "duplicate_columns": report.duplicate_columns,
                "unknown_columns": report.extra_columns, "suggestions": suggestions})


def _without_content(error: Exception) -> str:
    """The parser's message without the row text it may quote (rows may hold personal data)."""
    return re.sub(r"(got \d+ columns?)?:[^:]*$", r"\1", str(error)) if ": " in str(error) else str(error)


def _process_batch(batch, lines, position, seen_ids, set_aside, quarantine, report) -> pa.Table | None:
    n = batch.num_rows
    failures: dict[int, list[Failure]] = {}
    for row in np.flatnonzero(np.isin(lines, list(set_aside))) if set_aside else ():
        aside = set_aside[int(lines[row])]
        failures[int(row)] = [Failure(aside.code, None, aside.message)]

    empty = np.ones(n, dtype=bool)
    for i in range(batch.num_columns):
        empty &= pc.equal(pc.binary_length(batch.column(i)), 0).to_numpy(zero_copy_only=False)
    for row in np.flatnonzero(empty):
        failures.setdefault(int(row), [Failure("empty_row", None, "the row is empty")])
    whole_row_failures = set(failures)  # set aside or empty: per-column reasons would only be noise

    typed: dict[str, pa.Array] = {}
    for column in COLUMNS:
        values, column_failures = _validate_column(column, batch.column(position[column.name]))
        typed[column.name] = values
        for row, failure in column_failures:
            if row not in whole_row_failures:
                failures.setdefault(row, []).append(failure)

    ids = typed[ID_COLUMN].to_pylist()
    for row, customer_id in enumerate(ids):
        if row in failures or customer_id is None:
            continue
        first = seen_ids.setdefault(customer_id, int(lines[row]))
        if first != lines[row]:
            failures[row] = [Failure("duplicate_id", ID_COLUMN, f"{ID_COLUMN}: the value is already on line {first}",
                                     value=customer_id)]

    _write_rejections(batch, lines, failures, set_aside, quarantine, report)
    keep = np.ones(n, dtype=bool)
    keep[list(failures)] = False
    table = pa.table(typed)
    return table.filter(pa.array(keep)) if failures else table


def _validate_column(column: Column, raw: pa.Array) -> tuple[pa.Array, list[tuple[int, Failure]]]:
    """Typed values (null where invalid) and the failures, by row index."""
    failures: list[tuple[int, Failure]] = []
    text = pc.utf8_trim_whitespace(raw.cast(pa.string()))  # valid UTF-8: LineGuard saw to that
    present = pc.fill_null(pc.not_equal(text, ""), False)
    missing = pc.and_(pc.invert(present), pc.is_valid(text))
    if not column.nullable:
        for row in _rows(missing):
            failures.append((row, Failure("missing_value", column.name, f"{column.name}: missing value")))

    def fail(mask: pa.Array, code: str, describe) -> None:
        for row in _rows(mask):
            failures.append((row, Failure(code, column.name, describe(row), value=text[row].as_py())))

    def shown(row: int) -> str:
        return "the value"  # it may be personal data in the wrong column: kept in the quarantine only

    if column.type is ColumnType.STRING:
        values = pc.if_else(present, text, pa.scalar(None, pa.string()))
        if column.allowed is not None:
            allowed = pc.fill_null(pc.is_in(values, value_set=pa.array(column.allowed)), True)
            fail(pc.invert(allowed), "not_allowed",
                 lambda r: f"{column.name}: {shown(r)} is not one of {', '.join(column.allowed)}")
            values = pc.if_else(allowed, values, pa.scalar(None, pa.string()))
        if column.name == ID_COLUMN:
            well_formed = pc.fill_null(pc.match_substring_regex(values, ID_PATTERN), True)
            fail(pc.invert(well_formed), "bad_format",
                 lambda r: f"{column.name}: {shown(r)} is not 1-64 letters, digits, '-' or '_'")
            values = pc.if_else(well_formed, values, pa.scalar(None, pa.string()))
        return values, failures

    if column.type is ColumnType.BOOLEAN:
        lowered = pc.utf8_lower(text)
        ok = pc.is_in(lowered, value_set=pa.array(list(_BOOLEAN)))
        fail(pc.and_(present, pc.invert(ok)), "wrong_type",
             lambda r: f"{column.name}: {shown(r)} is not {_TYPE_WORDS[column.type]}")
        values = pa.array([_BOOLEAN.get(v) if v is not None else None for v in lowered.to_pylist()], type=pa.bool_())
        return values, failures

    pattern = {ColumnType.INT: _INT, ColumnType.DOUBLE: _DOUBLE, ColumnType.DATE: _DATE}[column.type]
    well_formed = pc.fill_null(pc.match_substring_regex(text, pattern), False)
    candidates = pc.if_else(pc.and_(present, well_formed), text, pa.scalar(None, pa.string()))
    if column.type is ColumnType.DATE:
        parsed_dates = pc.strptime(candidates, format="%Y-%m-%d", unit="s", error_is_null=True)
        # strptime rolls impossible dates over (2024-02-30 -> 03-01); a round trip catches them.
        real_date = pc.fill_null(pc.equal(pc.strftime(parsed_dates, format="%Y-%m-%d"), candidates), False)
        values = pc.if_else(real_date, parsed_dates, pa.scalar(None, parsed_dates.type)).cast(pa.date32())
    else:
        values = candidates.cast(ARROW_TYPES[column.type])
    parsed = pc.is_valid(values)
    fail(pc.and_(present, pc.invert(parsed)), "wrong_type",
         lambda r: f"{column.name}: {shown(r)} is not {_TYPE_WORDS[column.type]}")
    if column.minimum is not None:
        low = pc.fill_null(pc.less(values, column.minimum), False)
        high = pc.fill_null(pc.greater(values, column.maximum), False)
        fail(low, "out_of_range", lambda r: f"{column.name}: {shown(r)} is below the minimum {column.minimum:g}")
        fail(high, "out_of_range", lambda r: f"{column.name}: {shown(r)} is above the maximum {column.maximum:g}")
        values = pc.if_else(pc.or_(low, high), pa.scalar(None, values.type), values)
    return values, failures


def _rows(mask: pa.Array) -> list[int]:
    return np.flatnonzero(pc.fill_null(mask, False).to_numpy(zero_copy_only=False)).tolist()


def _tokenize(table: pa.Table, tokenizer: Tokenizer) -> pa.Table:
    columns = []
    for column in COLUMNS:
        values = table[column.name].combine_chunks()
        if column.pii is not Pii.NONE:
            values = tokenizer.tokens(values.cast(pa.string()))
        columns.append(values)
    return pa.Table.from_arrays(columns, schema=bronze_schema())


def _write_rejections(batch, lines, failures: dict[int, list[Failure]], set_aside, quarantine, report) -> None:
    for row in sorted(failures):
        line = int(lines[row])
        if line in set_aside:
            record = set_aside[line].record
        else:
            record = _as_csv_record([batch.column(i)[row].as_py() for i in range(batch.num_columns)])
        _write_quarantine(quarantine, line, failures[row], record)
        report.record(line, failures[row])


def _quarantine_invalid_row(quarantine, report, line: int, record: bytes, actual: int, expected: int) -> None:
    if not record.strip():
        failures = [Failure("empty_row", None, "the row is empty")]
    else:
        failures = [Failure("field_count", None, f"the row has {actual} fields, the header has {expected}"
                            + (" (truncated line?)" if actual < expected else ""))]
    _write_quarantine(quarantine, line, failures, record)
    report.record(line, failures)


def _as_csv_record(fields: list[bytes]) -> bytes:
    out = io.BytesIO()
    for i, value in enumerate(fields):
        if i:
            out.write(b",")
        if re.search(rb'[",\r\n]', value):
            out.write(b'"' + value.replace(b'"', b'""') + b'"')
        else:
            out.write(value)
    return out.getvalue()


def _write_quarantine(quarantine: BinaryIO, line: int, failures: list[Failure], record: bytes) -> None:
    entry = {"line": line, "reasons": [f.to_dict() for f in failures]}
    try:
        entry["record"] = record.decode("utf-8")
    except UnicodeDecodeError:
        entry["record_base64"] = base64.b64encode(record).decode()
    quarantine.write(json.dumps(entry).encode() + b"\n")
