"""The Athena (Trino) statements the state machine runs: one copy, loaded by name.

Statements name their parameters `{run_id}`, a run-layout place (`{training_data}`: its s3://
URI) or a run table (`{training_data_table}`), as `engagement.layout.sql_values` defines them; the
CDK app fills bucket names at synth time and the run id at run time (States.Format), the local
cloud and the tests fill all of them before transpiling to DuckDB.
"""

import re
from dataclasses import dataclass
from pathlib import Path

FOLDER = Path(__file__).parent
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


@dataclass(frozen=True)
class Statement:
    name: str
    text: str

    @property
    def parameters(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(PLACEHOLDER.findall(self.text)))

    @property
    def sql(self) -> str:
        """Without the leading comment lines."""
        return "\n".join(line for line in self.text.splitlines() if not line.startswith("--")).strip()

    def render(self, values: dict[str, str]) -> str:
        missing = set(self.parameters) - set(values)
        if missing:
            raise KeyError(f"statement {self.name} needs values for {', '.join(sorted(missing))}")
        return PLACEHOLDER.sub(lambda match: values[match.group(1)], self.sql)


def load(name: str) -> Statement:
    path = FOLDER / f"{name}.sql"
    if not path.is_file():
        raise FileNotFoundError(f"no SQL statement {name!r} in {FOLDER}")
    return Statement(name, path.read_text())


def names() -> list[str]:
    return sorted(path.stem for path in FOLDER.glob("*.sql"))
