"""docs/cost.md is what `make docs` generates from the app and the measured run it names."""

from pathlib import Path

from cost import doc

REPO = Path(__file__).resolve().parents[2]


def test_cost_doc_is_up_to_date(synthesized, synthesized_lean):
    expected = doc.render(synthesized.outdir, synthesized_lean.outdir, REPO / "docs" / "cost_run.json")
    assert (REPO / "docs" / "cost.md").read_text() == expected, "docs/cost.md is stale: make docs"
