"""Glue Data Catalog databases for the platform's tables."""

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_glue as glue
from aws_cdk import aws_kms as kms
from constructs import Construct


class Catalog(Construct):
    """One Glue database per name, and (with `encryption_key`) the catalog encrypted at rest.

    Database names are part of the SQL contract (`engagement_raw.customers`, ...), so unlike
    other resources they are fixed names rather than generated ones. Catalog encryption is an
    account-wide setting: every principal that reads this account's catalog then needs the key.
    """

    def __init__(self, scope: Construct, construct_id: str, *, database_names: Sequence[str],
                 encryption_key: kms.IKey | None = None) -> None:
        super().__init__(scope, construct_id)
        account = cdk.Stack.of(self).account
        self.encryption: glue.CfnDataCatalogEncryptionSettings | None = None
        if encryption_key is not None:
            self.encryption = glue.CfnDataCatalogEncryptionSettings(
                self, "Encryption", catalog_id=account,
                data_catalog_encryption_settings=glue.CfnDataCatalogEncryptionSettings.DataCatalogEncryptionSettingsProperty(
                    encryption_at_rest=glue.CfnDataCatalogEncryptionSettings.EncryptionAtRestProperty(
                        catalog_encryption_mode="SSE-KMS", sse_aws_kms_key_id=encryption_key.key_arn),
                    connection_password_encryption=glue.CfnDataCatalogEncryptionSettings.ConnectionPasswordEncryptionProperty(
                        return_connection_password_encrypted=True, kms_key_id=encryption_key.key_arn),
                ))
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
