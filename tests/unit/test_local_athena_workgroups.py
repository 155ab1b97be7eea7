"""Athena's workgroup rules in the local cloud (localcloud/athena_workgroups.py); the synthesized
workgroup is held to them in tests/infra/test_data_stack.py."""

import json

import pytest
from moto.athena.models import athena_backends

import sql
from engagement.layout import Buckets, BUCKETS, sql_values
from localcloud.athena_workgroups import WorkgroupRefusal, check
from localcloud.cloud import ACCOUNT, REGION

VALUES = sql_values(Buckets(**{name: f"bucket-{name}" for name in BUCKETS}), "r_1_abc")


@pytest.fixture
def workgroups():
    backend = athena_backends[ACCOUNT][REGION]
    created = []

    def create(name: str, configuration: dict) -> str:
        backend.work_groups.pop(name, None)
        backend.create_work_group(name, json.loads(json.dumps(configuration)), "", [])
        created.append(name)
        return name

    yield create
    for name in created:
        backend.work_groups.pop(name, None)


def test_an_enforcing_workgroup_refuses_a_ctas_that_names_its_location(workgroups):
    enforcing = workgroups("Enforcing", {"EnforceWorkGroupConfiguration": True})
    statement = sql.load("prepare_training").render(VALUES)
    with pytest.raises(WorkgroupRefusal, match="external_location cannot be specified.*Enforcing"):
        check(statement, enforcing, ACCOUNT, REGION)
    check("SELECT 1", enforcing, ACCOUNT, REGION)  # queries without a location run


def test_an_unknown_workgroup_is_refused_by_name():
    with pytest.raises(WorkgroupRefusal, match="WorkGroup NoSuchGroup is not found"):
        check("SELECT 1", "NoSuchGroup", ACCOUNT, REGION)

