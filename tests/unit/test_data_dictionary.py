from pathlib import Path

from engagement.data_dictionary import render
from engagement.schema import COLUMNS

DOC = Path(__file__).resolve().parents[2] / "docs" / "data_dictionary.md"


def test_committed_data_dictionary_matches_the_contract():
    assert DOC.read_text() == render(), "docs/data_dictionary.md is stale: run `make docs`"


def test_every_column_has_a_row_and_a_description():
    text = render()
    for column in COLUMNS:
        assert f"| `{column.name}` |" in text
        assert column.description.strip()
