"""Secrets at rest: data-source credentials encrypted with a key derived from the settings secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from portal.errors import ConfigError


def _derive(secret_key: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"conductor-bi", info=purpose).derive(
        secret_key.encode()
    )


def fernet(secret_key: str) -> Fernet:
    """The Fernet cipher for credentials at rest."""
    return Fernet(base64.urlsafe_b64encode(_derive(secret_key, b"credentials-v1")))


def encrypt_json(secret_key: str, data: dict[str, Any]) -> bytes:
    """Encrypt a JSON-serialisable dict."""
    return fernet(secret_key).encrypt(json.dumps(data).encode())


def decrypt_json(secret_key: str, token: bytes) -> dict[str, Any]:
    """Decrypt what :func:`encrypt_json` made; a wrong key is a configuration error."""
    try:
        out: dict[str, Any] = json.loads(fernet(secret_key).decrypt(token))
    except InvalidToken:
        raise ConfigError(
            "stored credentials cannot be decrypted: was CONDUCTOR_SECRET_KEY changed?"
        ) from None
    return out


def new_token(prefix: str) -> str:
    """A new random bearer token such as ``cbi_…`` (shown once, stored hashed)."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def hash_token(token: str) -> str:
    """SHA-256 hex of a high-entropy token (tokens are random, so no slow hash is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def sign(secret_key: str, message: str) -> str:
    """HMAC-SHA256 of ``message`` (hex)."""
    return hmac.new(_derive(secret_key, b"sign-v1"), message.encode(), hashlib.sha256).hexdigest()
