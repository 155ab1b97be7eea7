"""Keyed, irreversible tokens for PII (HMAC-SHA256), and where the key comes from.

On AWS the key is a Secrets Manager secret; locally it is a key file that is created on first
use. The same key gives the same token for the same value, so tokens still join and deduplicate.
"""

import hashlib
import hmac
import os
import secrets
from pathlib import Path

import pyarrow as pa

MIN_KEY_BYTES = 32
TOKEN_HEX_CHARS = 32  # 128 bits: collisions are negligible at any realistic customer count


class TokenizationKeyError(Exception):
    """The tokenization key is missing or too weak."""


class Tokenizer:
    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise TokenizationKeyError(f"tokenization key must be at least {MIN_KEY_BYTES} bytes, got {len(key)}")
        self._base = hmac.new(key, digestmod=hashlib.sha256)

    def token(self, value: str) -> str:
        mac = self._base.copy()
        mac.update(value.encode())
        return mac.hexdigest()[:TOKEN_HEX_CHARS]

    def tokens(self, values: pa.Array) -> pa.Array:
        """Token per value; nulls stay null."""
        return pa.array([None if v is None else self.token(v) for v in values.to_pylist()], type=pa.string())


def key_from_file(path: Path) -> bytes:
    """Read the local key, creating a random one (mode 0600) the first time."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(secrets.token_bytes(MIN_KEY_BYTES))
    return path.read_bytes()


def key_from_secret(secrets_client, secret_id: str) -> bytes:
    """Read the key from Secrets Manager (binary secret, or a string secret of >= 32 characters)."""
    response = secrets_client.get_secret_value(SecretId=secret_id)
    if "SecretBinary" in response:
        return response["SecretBinary"]
    return response["SecretString"].encode()
