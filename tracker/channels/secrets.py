"""Channel secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256) under a key derived from SECRET_KEY.

CHANNEL_SECRET_KEY, when set, is used instead, so SECRET_KEY can be rotated without re-entering
every robot's address. A value that no longer decrypts (the key changed) reads as None: the
channel then asks to be entered again rather than failing every send with a crypto error.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app


def _fernet() -> Fernet:
    material = current_app.config.get("CHANNEL_SECRET_KEY") or current_app.config["SECRET_KEY"]
    key = hashlib.sha256(b"tracker-channel-secrets:" + str(material).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt(token: str | None) -> str | None:
    if not token:
        return None
    try:
        return _fernet().decrypt(token.encode()).decode()
    except (InvalidToken, ValueError):
        return None
