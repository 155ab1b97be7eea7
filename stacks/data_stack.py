"""Stateful storage: encryption key, data lake buckets, catalog, query workgroup, prediction cache."""

import aws_cdk as cdk
from constructs import Construct
from constructs.catalog import Catalog
from constructs.catalog_table import CatalogTable, CatalogTableProps, TableFormat
from constructs.data_lake import DataLake
from constructs.encryption_key import EncryptionKey
from constructs.prediction_cache import PredictionCache
from constructs.query_workgroup import QueryWorkgroup
from constructs.raw_data_crawler import RawDataCrawler
from constructs.tokenization_key import TokenizationKey
from engagement.catalog import RUN_PARTITION, TABLES
from stacks.data_exports import export_data, export_names

DATABASE_NAMES = ("engagement_raw", "engagement_predictions", "engagement_qa", "engagement_analytics")
RAW_DATA_PREFIX = "customers/"
CACHE_TTL_ATTRIBUTE = "expires_at"


class DataStack(cdk.Stack):
    """Everything that holds data. Termination-protected; every stateful resource is retained."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        athena_bytes_scanned_cutoff: int,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, termination_protection=True, **kwargs)

        # CloudWatch Logs encrypts the platform's log groups (Glue crawler, Lambdas, tasks, state
        # machine) with this key on their behalf.
        self.key = EncryptionKey(
            self,
            "DataKey",
            description="Customer engagement platform: data and logs at rest (S3, DynamoDB, Athena, Logs)",
            log_groups="*",
        ).key
        self.lake = DataLake(self, "DataLake", encryption_key=self.key)
        self.catalog = Catalog(self, "Catalog", database_names=DATABASE_NAMES)
        # Tables and columns come from runtime/engagement/catalog.py (and so from the contract).
        buckets = {"raw": self.lake.raw, "processed": self.lake.processed, "predictions": self.lake.predictions}
        self.tables = {}
        for spec in TABLES:
            table = CatalogTable(
                self,
                "".join(part.capitalize() for part in spec.name.split("_")) + "Table",
                props=CatalogTableProps(
                    database_name=spec.database,
                    table_name=spec.name,
                    description=spec.description,
                    columns=spec.columns,
                    bucket=buckets[spec.bucket],
                    prefix=spec.prefix,
                    table_format=TableFormat(spec.format),
                    run_partition=RUN_PARTITION if spec.run_partitioned else None,
                ),
            )
            table.node.add_dependency(self.catalog.databases[spec.database])
            self.tables[spec.qualified_name] = table
        self.raw_crawler = RawDataCrawler(
            self,
            "RawDataCrawler",
            bucket=self.lake.raw,
            prefix=RAW_DATA_PREFIX,
            database_name="engagement_raw",
            encryption_key=self.key,
        )
        self.raw_crawler.crawler.node.add_dependency(self.catalog.databases["engagement_raw"])
        self.workgroup = QueryWorkgroup(
            self,
            "QueryWorkgroup",
            results_bucket=self.lake.athena_results,
            encryption_key=self.key,
            bytes_scanned_cutoff_per_query=athena_bytes_scanned_cutoff,
        )
        self.tokenization_key = TokenizationKey(self, "TokenizationKey", encryption_key=self.key).secret
        self.prediction_cache = PredictionCache(
            self, "PredictionCache", encryption_key=self.key, ttl_attribute=CACHE_TTL_ATTRIBUTE
        )
        lake = self.lake
        export_data(self, export_names(
            {"raw": lake.raw, "processed": lake.processed, "models": lake.models, "predictions": lake.predictions,
             "results": lake.results, "qa": lake.qa, "knowledge_base": lake.knowledge_base,
             "athena_results": lake.athena_results},
            self.key.key_arn, self.prediction_cache.table, self.tokenization_key.secret_arn,
            self.workgroup.workgroup_name))
