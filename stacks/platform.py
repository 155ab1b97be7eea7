"""The whole platform: which stacks exist and how they depend on each other."""

from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from constructs.nag import add_compliance_packs
from deployment.tags import COST_TAG
from stacks.data_exports import DataRefs, import_data
from stacks.ai_stack import AiStack
from stacks.data_stack import DataStack
from stacks.ml_stack import TASK_MEMORY_MIB, MlStack
from stacks.network_stack import TASK_ENDPOINTS, NetworkStack
from constructs.engagement_pipeline import FanOut
from stacks.pipeline_stack import PipelineStack


@dataclass(frozen=True, kw_only=True)
class PlatformSettings:
    """Deployment settings; `app.py` fills them from context and the environment."""

    lambda_layer_dir: Path  # built by `make lambda-layer`
    env: cdk.Environment | None = None
    athena_bytes_scanned_cutoff: int = 10 * 1024**3  # 10 GiB: ~100x a full scan of 1M customers
    # The assistant's own workgroup: its queries read a few columns of the published run.
    assistant_bytes_scanned_cutoff: int = 1024**3
    min_rows: int = 1_000  # DataValidation refuses smaller uploads
    # Account-wide: every reader of this account's Glue catalog then needs the data key. Turn off
    # where other workloads share the catalog, and encrypt it with a key they can all use.
    encrypt_glue_catalog: bool = True
    upload_retention_days: int = 90  # raw uploads (full PII) are erased after this
    quarantine_retention_days: int = 30  # quarantined rows (full PII) are erased after this
    termination_protection: bool = True  # of the data stack; local targets turn it off (moto lacks the API)
    # A pushed ml_container image to run instead of building the asset (where no Docker engine is).
    ml_image_uri: str | None = None
    # The assistant's Bedrock model: a US cross-region inference profile of a current Claude Sonnet.
    assistant_model_id: str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    profile: str = "standard"  # a key of PROFILES
    # Reserve concurrency for the stage (2 each) and API (10 each) functions: 34 executions, which an
    # account's quota must leave 100 unreserved above (README: Deploy to AWS, account prerequisites).
    reserve_concurrency: bool = False
    # Shards (engagement.shards): customers per Inference task and CacheLoad invocation, and how many
    # run at once. Inference: 20 tasks of 2 vCPU; CacheLoad: 4 writers reach a new on-demand table's
    # 4,000 writes/s (python -m cost --rows N checks both against their limits).
    shard_rows: int = 250_000
    ingest_concurrency: int = 20  # upload files ingested at once
    inference_concurrency: int = 20
    cache_load_concurrency: int = 4
    # Sizes: every stage function's memory (None: each stage's own, pipeline_stack.STAGES) and the
    # training and inference tasks' memory (2 vCPU take 4,096-16,384 MiB).
    stage_memory_mb: int | None = None
    task_memory_mib: int = TASK_MEMORY_MIB
    max_training_rows: int | None = None  # the training sample (None: engagement_ml.config's default)
    max_test_rows: int | None = None  # the held-out sample (None: engagement_ml.config's default)
    # The prediction cache's writes a second from the start (DynamoDB warm throughput; None: a new
    # on-demand table's 4,000). CacheLoad's bound at 10M+ customers on a new table (python -m cost --rows).
    cache_warm_writes_per_second: int | None = None


STAGE_RESERVED_CONCURRENCY = 2  # a stage function: one run at a time (the run lock), plus a retry
API_RESERVED_CONCURRENCY = 10  # an API function: bounded by the stage's throttling


@dataclass(frozen=True)
class Profile:
    """What a deployment profile changes; encryption, least privilege and the private tasks stay."""

    lambdas_in_vpc: bool  # else the Lambdas call AWS APIs from outside any VPC
    endpoint_services: tuple | None  # interface endpoints (None: every service code in the VPC calls)
    endpoint_azs: int  # AZs each interface endpoint has an ENI in
    one_key: bool  # flow logs and notifications under the data key instead of keys of their own


PROFILES = {
    "standard": Profile(lambdas_in_vpc=True, endpoint_services=None, endpoint_azs=2, one_key=False),
    # Fixed cost first: the tasks' three endpoints in one AZ (a batch job can wait for an AZ), the
    # Lambdas outside the VPC, one customer-managed key. docs/costs.md.
    "lean": Profile(lambdas_in_vpc=False, endpoint_services=TASK_ENDPOINTS, endpoint_azs=1, one_key=True),
}


@dataclass(frozen=True)
class Platform:
    data: DataStack
    network: NetworkStack
    ml: MlStack
    pipeline: PipelineStack
    ai: AiStack


def build_platform(app: cdk.App, settings: PlatformSettings) -> Platform:
    profile = PROFILES[settings.profile]
    data, data_refs = _data(app, settings, profile)
    network = NetworkStack(
        app,
        "EngagementNetwork",
        env=settings.env,
        description="Customer engagement platform: private isolated VPC with service endpoints",
        endpoint_services=profile.endpoint_services,
        endpoint_azs=profile.endpoint_azs,
        log_key_arn=data_refs.key_arn if profile.one_key else None,
    )
    ml = MlStack(
        app,
        "EngagementMl",
        env=settings.env,
        description="Customer engagement platform: ECS cluster, ML image, training and inference tasks",
        vpc=network.vpc,
        security_group=network.workload_security_group,
        data=data_refs,
        image_uri=settings.ml_image_uri,
        task_memory_mib=settings.task_memory_mib,
        max_training_rows=settings.max_training_rows,
        max_test_rows=settings.max_test_rows,
    )
    ai = AiStack(
        app,
        "EngagementAi",
        env=settings.env,
        description="Customer engagement platform: the knowledge base and the API over the published run "
                    "(/predict, /ask)",
        data=data_refs,
        network=network if profile.lambdas_in_vpc else None,
        lambda_layer_dir=settings.lambda_layer_dir,
        model_id=settings.assistant_model_id,
        assistant_bytes_scanned_cutoff=settings.assistant_bytes_scanned_cutoff,
        api_concurrency=API_RESERVED_CONCURRENCY if settings.reserve_concurrency else None,
    )
    pipeline = _pipeline(app, settings, profile, data_refs, network, ml, ai)
    consumers = (ml, pipeline, ai, *((network,) if profile.one_key else ()))
    for consumer in consumers:  # imports by export name carry no implicit dependency
        consumer.add_stack_dependency(data)
    cdk.Tags.of(app).add(*COST_TAG)  # Cost Explorer groups the platform's spend by it (python -m cost --actual)
    add_compliance_packs(app)
    return Platform(data=data, network=network, ml=ml, pipeline=pipeline, ai=ai)


def _pipeline(app: cdk.App, settings: PlatformSettings, profile: Profile, data_refs: DataRefs,
              network: NetworkStack, ml: MlStack, ai: AiStack) -> PipelineStack:
    return PipelineStack(
        app,
        "EngagementPipeline",
        env=settings.env,
        description="Customer engagement platform: stage Lambdas and the engagement-ml-pipeline state machine",
        data=data_refs,
        network=network if profile.lambdas_in_vpc else None,
        ml=ml,
        lambda_layer_dir=settings.lambda_layer_dir,
        min_rows=settings.min_rows,
        stage_memory_mb=settings.stage_memory_mb,
        stage_concurrency=STAGE_RESERVED_CONCURRENCY if settings.reserve_concurrency else None,
        knowledge_base=ai.knowledge_base,
        notification_key_arn=data_refs.key_arn if profile.one_key else None,
        fan_out=FanOut(shard_rows=settings.shard_rows, ingest_concurrency=settings.ingest_concurrency,
                       inference_concurrency=settings.inference_concurrency,
                       cache_load_concurrency=settings.cache_load_concurrency),
    )


def _data(app: cdk.App, settings: PlatformSettings, profile: Profile) -> tuple[DataStack, DataRefs]:
    """The data stack, and what the other stacks import of it (by export name)."""
    data = DataStack(
        app,
        "EngagementData",
        env=settings.env,
        description="Customer engagement platform: encrypted data lake, catalog, workgroup, cache",
        athena_bytes_scanned_cutoff=settings.athena_bytes_scanned_cutoff,
        encrypt_glue_catalog=settings.encrypt_glue_catalog,
        upload_retention_days=settings.upload_retention_days,
        quarantine_retention_days=settings.quarantine_retention_days,
        termination_protection=settings.termination_protection,
        key_for_alarms=profile.one_key,
        cache_warm_writes_per_second=settings.cache_warm_writes_per_second,
    )
    return data, import_data(data)
