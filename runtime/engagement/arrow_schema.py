"""The schema contract as an Arrow schema: bronze (validated, PII tokenized)."""

import pyarrow as pa

from engagement.schema import COLUMNS, ColumnType, bronze_columns

ARROW_TYPES = {
    ColumnType.STRING: pa.string(),
    ColumnType.INT: pa.int64(),
    ColumnType.DOUBLE: pa.float64(),
    ColumnType.BOOLEAN: pa.bool_(),
    ColumnType.DATE: pa.date32(),
}


def bronze_schema() -> pa.Schema:
    nullable = {c.name: c.nullable for c in COLUMNS}
    return pa.schema(
        [pa.field(name, ARROW_TYPES[type_], nullable=nullable.get(name, False)) for name, type_ in bronze_columns()]
    )
