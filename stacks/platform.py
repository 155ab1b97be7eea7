"""The whole platform: which stacks exist and how they depend on each other."""

from dataclasses import dataclass

import aws_cdk as cdk
from constructs.nag import add_compliance_packs
from stacks.data_stack import DataStack
from stacks.network_stack import NetworkStack


@dataclass(frozen=True, kw_only=True)
class PlatformSettings:
    """Deployment settings; `app.py` fills them from context and the environment."""

    env: cdk.Environment | None = None
    athena_bytes_scanned_cutoff: int = 10 * 1024**3  # 10 GiB: ~100x a full scan of 1M customers


@dataclass(frozen=True)
class Platform:
    data: DataStack
    network: NetworkStack


def build_platform(app: cdk.App, settings: PlatformSettings) -> Platform:
    data = DataStack(
        app,
        "EngagementData",
        env=settings.env,
        description="Customer engagement platform: encrypted data lake, catalog, workgroup, cache",
        athena_bytes_scanned_cutoff=settings.athena_bytes_scanned_cutoff,
    )
    network = NetworkStack(
        app,
        "EngagementNetwork",
        env=settings.env,
        description="Customer engagement platform: private isolated VPC with service endpoints",
    )
    add_compliance_packs(app)
    return Platform(data=data, network=network)
