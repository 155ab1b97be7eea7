"""Render the schema contract as the data dictionary (docs/data_dictionary.md).

Regenerate with `make docs` (python -m engagement.data_dictionary docs/data_dictionary.md);
a test fails when the committed file is stale.
"""

import sys
from pathlib import Path

from engagement.schema import COLUMNS, Column, Pii, Role

HEADER = """# Data dictionary: customers

Generated from the schema contract (`runtime/engagement/schema.py`) — do not edit by hand;
run `make docs`. One row per customer; columns in the order of the CSV the platform ingests.

- **PII**: `direct` and `quasi` columns exist only in the raw layer. Ingest replaces each with a
  keyed token column (`<name>_token`, HMAC-SHA256) before data leaves it.
- **Protected**: used to measure fairness, never as a model input.
- **Role**: `target` columns are labels; no feature may be computed from them.
"""


def _allowed(column: Column) -> str:
    if column.allowed is not None:
        values = column.allowed if len(column.allowed) <= 12 else (*column.allowed[:6], "…", *column.allowed[-2:])
        return ", ".join(f"`{v}`" for v in values)
    if column.minimum is not None:
        return f"{_number(column.minimum)} – {_number(column.maximum)}"
    if column.type == "boolean":
        return "`true`, `false`"
    return ""


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:g}"


def render() -> str:
    lines = [HEADER, "| # | column | type | allowed values / range | unit | nullable | role | PII | protected | description |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for number, column in enumerate(COLUMNS, start=1):
        lines.append(
            f"| {number} | `{column.name}` | {column.type} | {_allowed(column)} | {column.unit or ''} | "
            f"{'yes' if column.nullable else 'no'} | {column.role} | "
            f"{'' if column.pii is Pii.NONE else column.pii} | {'yes' if column.protected else ''} | "
            f"{column.description} |"
        )
    counts = {role: sum(c.role is role for c in COLUMNS) for role in Role}
    lines.append("")
    lines.append(
        f"{len(COLUMNS)} columns: {counts[Role.ID]} id, {counts[Role.FEATURE]} features, "
        f"{counts[Role.TARGET]} targets, {counts[Role.PII]} PII."
    )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    if target:
        target.write_text(render())
    else:
        sys.stdout.write(render())
