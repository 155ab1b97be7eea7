"""Stateful storage: encryption key, data lake buckets, catalog, query workgroup, prediction cache,
run ledger."""

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct
from constructs.catalog import Catalog
from constructs.catalog_table import CatalogTable, CatalogTableProps, RunPartitions, TableFormat
from constructs.data_lake import DataLake
from constructs.encryption_key import EncryptionKey
from constructs.run_cache import RunCache
from constructs.query_workgroup import QueryWorkgroup
from constructs.raw_data_crawler import RawDataCrawler
from constructs.run_ledger import RunLedger
from constructs.tokenization_key import TokenizationKey
from engagement import cache
from engagement.catalog import RUN_PARTITION, TABLES
from engagement.layout import BUCKETS, PLACES, RAW_TABLE
from engagement.schema import ID_COLUMN
from stacks.data_exports import export_data

DATABASE_NAMES = ("engagement_raw", "engagement_predictions", "engagement_qa", "engagement_analytics")


class DataStack(cdk.Stack):
    """Everything that holds data. Termination-protected (by default); every stateful resource is retained."""

    def __init__(self, scope: Construct, construct_id: str, *, athena_bytes_scanned_cutoff: int,
                 encrypt_glue_catalog: bool, upload_retention_days: int, quarantine_retention_days: int,
                 termination_protection: bool, key_for_alarms: bool = False,
                 cache_warm_writes_per_second: int | None = None, **kwargs) -> None:
        """`key_for_alarms`: CloudWatch alarms may publish to a topic encrypted with the data key (the
        lean profile's one key); `cache_warm_writes_per_second`: the prediction cache pre-warmed."""
        super().__init__(scope, construct_id, termination_protection=termination_protection, **kwargs)

        self.key = self._data_key(key_for_alarms)
        self.lake = DataLake(self, "DataLake", encryption_key=self.key, personal_data={
            PLACES["source"].root: cdk.Duration.days(upload_retention_days),
            PLACES["quarantine"].root: cdk.Duration.days(quarantine_retention_days),
        })
        self.catalog = Catalog(self, "Catalog", database_names=DATABASE_NAMES,
                               encryption_key=self.key if encrypt_glue_catalog else None)
        self.tables = self._declare_tables()
        self.raw_crawler = RawDataCrawler(
            self,
            "RawDataCrawler",
            bucket=self.lake.raw,
            prefix=PLACES["source"].root,
            database_name=RAW_TABLE.database,
            encryption_key=self.key,
        )
        self.raw_crawler.crawler.node.add_dependency(self.catalog.databases[RAW_TABLE.database])
        self.workgroup = QueryWorkgroup(
            self,
            "QueryWorkgroup",
            results_bucket=self.lake.athena_results,
            results_prefix=PLACES["query_results"].key,
            encryption_key=self.key,
            bytes_scanned_cutoff_per_query=athena_bytes_scanned_cutoff,
            description="Customer engagement platform queries",
        )
        self.tokenization_key = TokenizationKey(self, "TokenizationKey", encryption_key=self.key).secret
        self.prediction_cache = RunCache(
            self, "PredictionCache", encryption_key=self.key, ttl_attribute=cache.TTL_ATTRIBUTE,
            partition_key=ID_COLUMN, rebuilt_by="reloaded from the predictions bucket by every pipeline run",
            warm_writes_per_second=cache_warm_writes_per_second,
        )
        self.run_ledger = RunLedger(self, "RunLedger", encryption_key=self.key)
        export_data(self, {name: getattr(self.lake, name) for name in BUCKETS}, {
            "key_arn": self.key.key_arn,
            "cache_table_name": self.prediction_cache.table.table_name,
            "cache_table_arn": self.prediction_cache.table.table_arn,
            "ledger_table_name": self.run_ledger.table.table_name,
            "ledger_table_arn": self.run_ledger.table.table_arn,
            "tokenization_secret_arn": self.tokenization_key.secret_arn,
            "workgroup_name": self.workgroup.workgroup_name,
        })

    def _data_key(self, key_for_alarms: bool) -> kms.IKey:
        """The data key, with the services that use it on the platform's behalf admitted."""
        # CloudWatch Logs encrypts the platform's log groups (Glue crawler, Lambdas, tasks, state
        # machine) with this key on their behalf.
        key = EncryptionKey(
            self,
            "DataKey",
            description="Customer engagement platform: data and logs at rest (S3, DynamoDB, Athena, Glue, Logs)",
            log_groups="*",
        ).key
        if key_for_alarms:
            key.add_to_resource_policy(iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": self.account}}))
        # S3 Vectors' indexing reads the knowledge base's vectors (AI stack) under this key.
        key.add_to_resource_policy(iam.PolicyStatement(
            principals=[iam.ServicePrincipal("indexing.s3vectors.amazonaws.com")], actions=["kms:Decrypt"],
            resources=["*"],  # in a key policy, "*" means this key
            conditions={"StringEquals": {"aws:SourceAccount": self.account},
                        "ArnLike": {"aws:SourceArn": self.format_arn(service="s3vectors", resource="bucket",
                                                                     resource_name="*")}}))
        return key

    def _declare_tables(self) -> dict[str, CatalogTable]:
        """Tables and columns come from runtime/engagement/catalog.py (and so from the contracts)."""
        tables = {}
        for spec in TABLES:
            table = CatalogTable(
                self,
                "".join(part.capitalize() for part in spec.table.name.split("_")) + "Table",
                props=CatalogTableProps(
                    database_name=spec.table.database,
                    table_name=spec.table.name,
                    description=spec.description,
                    columns=spec.columns,
                    bucket=getattr(self.lake, spec.bucket),
                    prefix=spec.prefix,
                    table_format=TableFormat(spec.format),
                    run_partition=RUN_PARTITION if spec.run_partitions else None,
                    run_partitions=RunPartitions(spec.run_partitions or "projected"),
                ),
            )
            table.node.add_dependency(self.catalog.databases[spec.table.database])
            if self.catalog.encryption is not None:
                table.node.add_dependency(self.catalog.encryption)
            tables[spec.table.qualified] = table
        return tables
