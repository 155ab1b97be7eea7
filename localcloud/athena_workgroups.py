"""Athena's workgroup rules, as Athena applies them before a query runs.

A query names its workgroup (`primary` when it names none); the workgroup must exist and be
enabled. A workgroup that enforces its configuration ("Override client-side settings") owns where
results go, so Athena fails a CTAS that names its own `external_location` there ("Troubleshoot
workgroup errors", Athena user guide).

Not modelled: the bytes-scanned cutoff (the local engine does not count bytes scanned) and
writing results to the workgroup's output location.
"""

import re

from localcloud.athena_duckdb import AthenaSqlError

CTAS_LOCATION = re.compile(r"^\s*CREATE\s+TABLE\b.*?\bWITH\s*\(.*?\bexternal_location\s*=", re.IGNORECASE | re.DOTALL)


class WorkgroupRefusal(AthenaSqlError):
    """Athena refused the query because of its workgroup (InvalidRequestException)."""


def _workgroup(name: str, account: str, region: str):
    from moto.athena.models import athena_backends

    return athena_backends[account][region].work_groups.get(name)


def check(sql: str, name: str, account: str, region: str) -> None:
    workgroup = _workgroup(name, account, region)
    if workgroup is None:
        raise WorkgroupRefusal(f"WorkGroup {name} is not found.")
    if workgroup.state != "ENABLED":
        raise WorkgroupRefusal(f"WorkGroup {name} is disabled.")
    enforced = str((workgroup.configuration or {}).get("EnforceWorkGroupConfiguration", False)).lower() == "true"
    if enforced and CTAS_LOCATION.search(sql):
        raise WorkgroupRefusal(f"external_location cannot be specified in a CTAS query in workgroup {name}: it "
                               "enforces its configuration (Override client-side settings), which owns where "
                               "results are written.")


def output_location(name: str | None, account: str, region: str) -> str | None:
    """Where the workgroup writes query results (None: it names no location)."""
    workgroup = _workgroup(name or "primary", account, region)
    configuration = (workgroup.configuration or {}) if workgroup is not None else {}
    return (configuration.get("ResultConfiguration") or {}).get("OutputLocation")
