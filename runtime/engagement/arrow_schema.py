"""The schema contract as Arrow schemas: raw (as uploaded) and bronze (validated, PII tokenized)."""

import pyarrow as pa

from engagement.schema import COLUMNS, ColumnType, bronze_columns

ARROW_TYPES = {
    ColumnType.STRING: pa.string(),
    ColumnType.INT: pa.int64(),
    ColumnType.DOUBLE: pa.float64(),
    ColumnType.BOOLEAN: pa.bool_(),
    ColumnType.DATE: pa.date32(),
}


def raw_schema() -> pa.Schema:
    return pa.schema([pa.field(c.name, ARROW_TYPES[c.type], nullable=c.nullable) for c in COLUMNS])


def bronze_schema() -> pa.Schema:
    nullable = {c.name: c.nullable for c in COLUMNS}
    return pa.schema(
        [pa.field(name, ARROW_TYPES[type_], nullable=nullable.get(name, False)) for name, type_ in bronze_columns()]
    )
