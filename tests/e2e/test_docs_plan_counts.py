"""The stacks and resources a doc says `python -m localcloud plan cdk.out.local` lists are what it
lists for the app `make run` synthesizes."""

from deployment.assembly import read_stacks
from tests.infra.test_docs_counts import DOCS, REPO, wrong_counts


def test_every_plan_count_a_doc_states_is_the_apps(local_assembly):
    stacks = read_stacks(local_assembly)
    resources = {stack.name: sum(stack.resource_counts().values()) for stack in stacks}
    counts = {r"(\d+) stacks, [\d,]+ resources": len(stacks),
              r"\d+ stacks, ([\d,]+) resources": sum(resources.values()),
              **{rf"^{name}: (\d+) resources": count for name, count in resources.items()}}
    wrong = {doc: found for doc in DOCS if (found := wrong_counts((REPO / doc).read_text(), counts))}
    assert not wrong, f"docs state counts `localcloud plan` does not list: {wrong}"
