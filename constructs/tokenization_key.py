"""The secret HMAC key that turns PII into tokens at ingest."""

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct
from constructs.nag import acknowledge


class TokenizationKey(Construct):
    """A generated 64-character secret, KMS-encrypted, retained, never rotated automatically."""

    def __init__(self, scope: Construct, construct_id: str, *, encryption_key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self.secret = secretsmanager.Secret(
            self,
            "Secret",
            description="HMAC-SHA256 key for PII tokens (ingest); changing it changes every token",
            encryption_key=encryption_key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64, exclude_punctuation=True, include_space=False
            ),
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        acknowledge(
            self.secret,
            "Rotating the tokenization key would change every PII token and break joins with earlier"
            " runs; rotation is a planned re-tokenization, not a schedule.",
            "AwsSolutions-SMG4",
            "HIPAA.Security-SecretsManagerRotationEnabled",
            "NIST.800.53.R5-SecretsManagerRotationEnabled",
        )
