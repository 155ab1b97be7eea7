"""Glue Data Catalog databases for the platform's tables."""

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_glue as glue
from constructs import Construct


class Catalog(Construct):
    """One Glue database per name.

    Database names are part of the SQL contract (`engagement_raw.customers`, ...), so unlike
    other resources they are fixed names rather than generated ones.
    """

    def __init__(self, scope: Construct, construct_id: str, *, database_names: Sequence[str]) -> None:
        super().__init__(scope, construct_id)
        account = cdk.Stack.of(self).account
        self.databases: dict[str, glue.CfnDatabase] = {}
        for name in database_names:
            construct_name = "".join(part.capitalize() for part in name.split("_"))
            self.databases[name] = glue.CfnDatabase(
                self,
                construct_name,
                catalog_id=account,
                database_input=glue.CfnDatabase.DatabaseInputProperty(
                    name=name, description=f"Customer engagement platform: {name}"
                ),
            )
