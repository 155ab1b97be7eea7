"""A count a doc states is the count the code has: interface endpoints, contract columns, the
assistant's evaluation questions and the seed's, the id hash buckets (a doc that kept an old count
fails here, naming it). tests/e2e/test_docs_plan_counts.py checks the stacks and resources
`python -m localcloud plan` lists."""

import re
from pathlib import Path

import pytest

from engagement.schema import COLUMNS
from engagement.validation import ID_BUCKETS
from planner.eval_set import evaluation_set
from planner.seed_questions import SEED_QUESTIONS

REPO = Path(__file__).resolve().parents[2]
GENERATED = {"docs/cost.md", "docs/pipeline.md", "docs/benchmarks.md", "docs/data_dictionary.md"}
DOCS = sorted(str(path.relative_to(REPO)) for path in [REPO / "README.md", *(REPO / "docs").glob("*.md")]
              if str(path.relative_to(REPO)) not in GENERATED)


def interface_endpoints(synthesized) -> int:
    network = synthesized.raw_templates[synthesized.platform.network.stack_name]["Resources"]
    return sum(1 for resource in network.values() if resource["Type"] == "AWS::EC2::VPCEndpoint"
               and resource["Properties"].get("VpcEndpointType") == "Interface")


def wrong_counts(text: str, counts: dict[str, int]) -> list[str]:
    """Each phrase of `text` matching a pattern of `counts` whose number is not the count."""
    return [f"{match.group(0)!r} (the code has {expected:,})"
            for pattern, expected in counts.items()
            for match in re.finditer(pattern, text, re.MULTILINE)
            if int(next(group for group in match.groups() if group).replace(",", "")) != expected]


@pytest.fixture(scope="module")
def counts(synthesized) -> dict[str, int]:
    """Each counted phrase (a regular expression whose group is the number) and the code's count."""
    return {
        r"(\d+) interface endpoints": interface_endpoints(synthesized),
        r"the (\d+) columns": len(COLUMNS),
        r"(\d+) evaluation questions": len(evaluation_set()),
        r"(\d+)-question evaluation set": len(evaluation_set()),
        r"the seed's (\d+) questions": sum(len(questions) for questions in SEED_QUESTIONS.values()),
        r"(\d+) (?:hash )?buckets of ids|(\d+) hash buckets": ID_BUCKETS,
    }


@pytest.mark.parametrize("doc", DOCS)
def test_every_count_a_doc_states_is_the_codes(doc, counts):
    wrong = wrong_counts((REPO / doc).read_text(), counts)
    assert not wrong, f"{doc} states counts the code does not have: {wrong}"


def test_a_stale_count_is_named():
    assert wrong_counts("9 interface endpoints, 12 interface endpoints", {r"(\d+) interface endpoints": 12}) == [
        "'9 interface endpoints' (the code has 12)"]
