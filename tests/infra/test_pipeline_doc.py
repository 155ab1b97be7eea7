from pathlib import Path

from localcloud import cloudformation
from tools import pipeline_doc
from deployment.definition import load_definition, state_machines
from localcloud.definition import unsupported

DOC = Path(__file__).resolve().parents[2] / "docs" / "pipeline.md"


def test_committed_pipeline_doc_matches_the_synthesized_state_machine(synthesized):
    [machine] = state_machines(synthesized.raw_templates[synthesized.platform.pipeline.stack_name]).values()
    assert DOC.read_text() == pipeline_doc.render(load_definition(machine)), "docs/pipeline.md is stale: make docs"


def test_every_athena_stage_names_its_sql_file():
    text = DOC.read_text()
    assert "sql/?.sql" not in text
    import sql

    for statement in sql.names():  # every statement runs in some state, and the page says which
        assert f"`sql/{statement}.sql`" in text, statement


def test_the_local_cloud_can_create_and_run_everything_the_app_synthesizes(synthesized):
    [machine] = state_machines(synthesized.raw_templates[synthesized.platform.pipeline.stack_name]).values()
    assert unsupported(load_definition(machine)) == []
    cloudformation.install()
    for name, template in synthesized.raw_templates.items():
        assert cloudformation.unsupported_types(template) == [], name
