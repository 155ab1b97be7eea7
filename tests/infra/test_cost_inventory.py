"""Every resource the synthesized app declares is priced by python -m cost or named free, with why."""

from cost.inventory import FREE, read_inventory, unpriced_types
from cost.model import RULES


def test_every_resource_type_in_the_app_is_priced_or_free(synthesized):
    inventory = read_inventory(synthesized.outdir)
    assert unpriced_types(inventory, set(RULES)) == []
    assert not set(RULES) & set(FREE)
    assert set(inventory.task_states) == {"Training", "ScoreShard"} and len(inventory.athena_states) == 6
    assert {"IngestFile", "LoadCacheShard", "PublishLatest"} <= set(inventory.lambda_states)
    assert inventory.fanned_out == {f"{task}{suffix}" for task in ("IngestFile", "ProfileFile", "ScoreShard", "LoadCacheShard")
                                    for suffix in ("", "Done", "Failed")}
