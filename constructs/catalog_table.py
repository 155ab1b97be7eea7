"""A Glue Data Catalog table over S3 objects (CSV text or Parquet)."""

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import aws_cdk as cdk
from aws_cdk import aws_glue as glue
from aws_cdk import aws_s3 as s3
from constructs import Construct


class TableFormat(Enum):
    CSV = "csv"
    PARQUET = "parquet"
    JSON = "json"  # one object per line


class RunPartitions(Enum):
    PROJECTED = "projected"  # Athena computes the partition from the run id a query names
    REGISTERED = "registered"  # each run's partition is registered in the catalog


_STORAGE = {
    TableFormat.CSV: dict(
        input_format="org.apache.hadoop.mapred.TextInputFormat",
        output_format="org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
        serde=glue.CfnTable.SerdeInfoProperty(
            serialization_library="org.apache.hadoop.hive.serde2.OpenCSVSerde",
            parameters={"separatorChar": ",", "quoteChar": '"', "escapeChar": "\\"},
        ),
        parameters={"classification": "csv", "skip.header.line.count": "1"},
    ),
    TableFormat.PARQUET: dict(
        input_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
        output_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
        serde=glue.CfnTable.SerdeInfoProperty(
            serialization_library="org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
        ),
        parameters={"classification": "parquet", "parquet.compression": "SNAPPY"},
    ),
    TableFormat.JSON: dict(
        input_format="org.apache.hadoop.mapred.TextInputFormat",
        output_format="org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
        serde=glue.CfnTable.SerdeInfoProperty(serialization_library="org.openx.data.jsonserde.JsonSerDe"),
        parameters={"classification": "json"},
    ),
}


@dataclass(frozen=True, kw_only=True)
class CatalogTableProps:
    database_name: str
    table_name: str  # part of the SQL contract, like the database names
    description: str
    columns: Sequence[tuple[str, str, str]]  # (name, type, comment)
    bucket: s3.IBucket
    prefix: str
    table_format: TableFormat
    # One partition per pipeline run (name, type, comment), projected or registered.
    run_partition: tuple[str, str, str] | None = None
    run_partitions: RunPartitions = RunPartitions.PROJECTED


class CatalogTable(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, props: CatalogTableProps) -> None:
        super().__init__(scope, construct_id)
        storage = _STORAGE[props.table_format]

        def columns(specs: Sequence[tuple[str, str, str]]) -> list[glue.CfnTable.ColumnProperty]:
            return [glue.CfnTable.ColumnProperty(name=n, type=t, comment=c[:255]) for n, t, c in specs]

        self.table = glue.CfnTable(
            self,
            "Table",
            catalog_id=cdk.Stack.of(self).account,
            database_name=props.database_name,
            table_input=glue.CfnTable.TableInputProperty(
                name=props.table_name,
                description=props.description,
                table_type="EXTERNAL_TABLE",
                parameters={**storage["parameters"], **_projection(props)},
                partition_keys=columns([props.run_partition]) if props.run_partition else None,
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    columns=columns(props.columns),
                    location=f"s3://{props.bucket.bucket_name}/{props.prefix}",
                    input_format=storage["input_format"],
                    output_format=storage["output_format"],
                    serde_info=storage["serde"],
                ),
            ),
        )


def _projection(props: CatalogTableProps) -> dict[str, str]:
    if props.run_partition is None or props.run_partitions is not RunPartitions.PROJECTED:
        return {}
    return {"projection.enabled": "true", f"projection.{props.run_partition[0]}.type": "injected"}
