"""The README's settings table, from `stacks.context.CONTEXT` and PlatformSettings' defaults:
`python -m tools.settings_doc README.md` rewrites the table between its markers (`make docs`)."""

import sys
from dataclasses import MISSING, fields
from pathlib import Path

from engagement_ml.config import TrainConfig
from stacks.context import CONTEXT
from stacks.platform import PlatformSettings

BEGIN, END = "<!-- settings table: make docs -->", "<!-- end of settings table -->"
# Where PlatformSettings leaves a setting to the ML container, the container's default.
CONTAINER_DEFAULTS = {"max_training_rows": TrainConfig.max_training_rows, "max_test_rows": TrainConfig.max_test_rows}


def shown(value) -> str:
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, int):
        gib = f" ({value // 1024**3} GiB)" if value >= 1024**3 and value % 1024**3 == 0 else ""
        return f"{value}{gib}"
    return f"`{value}`"


def default(field: str, when_unset: str) -> str:
    [found] = [f for f in fields(PlatformSettings) if f.name == field]
    value = found.default if found.default is not MISSING else found.default_factory()
    if value is None and field in CONTAINER_DEFAULTS:
        return f"{when_unset[:-1]}: {CONTAINER_DEFAULTS[field]})"
    return when_unset if value is None else shown(value)


def table() -> str:
    rows = [f"| `{key}` | {default(setting.field, setting.when_unset)} | {setting.meaning} |"
            for key, setting in CONTEXT.items()]
    return "\n".join(["| context key | default | meaning |", "|---|---|---|", *rows])


def rewrite(text: str) -> str:
    before, rest = text.split(BEGIN, 1)
    return f"{before}{BEGIN}\n{table()}\n{END}{rest.split(END, 1)[1]}"


def main(argv: list[str]) -> int:
    path = Path(argv[0])
    path.write_text(rewrite(path.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
