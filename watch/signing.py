"""Signatures: a webhook body's HMAC, and the signed links of the email subscriptions (django.core.signing).

A webhook carries ``X-Registry-Timestamp`` (Unix seconds) and ``X-Registry-Signature: sha256=<hex>``, the
HMAC-SHA256, keyed with the subscription's secret, of the timestamp, a full stop and the raw body. A receiver
recomputes it, compares in constant time, and refuses a timestamp more than a few minutes old (a replay).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.conf import settings
from django.core import signing

CONFIRM_SALT = "watch.confirm"
UNSUBSCRIBE_SALT = "watch.unsubscribe"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>``: the HMAC-SHA256 of ``timestamp.body`` keyed with ``secret``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def confirm_token(email: str, target: tuple[str, str]) -> str:
    """The token of a confirmation link: the address and what to watch, signed, with a nonce (a link works once)."""
    return signing.dumps({"e": email, "t": list(target), "n": secrets.token_hex(16)}, salt=CONFIRM_SALT, compress=True)


def read_confirm_token(token: str) -> dict:
    """``{"e", "t", "n"}`` of a valid token; raises ``signing.SignatureExpired`` or ``signing.BadSignature``."""
    data = signing.loads(token, salt=CONFIRM_SALT, max_age=settings.WATCH_CONFIRM_MAX_AGE)
    if not isinstance(data, dict) or not {"e", "t", "n"} <= data.keys():
        raise signing.BadSignature("incomplete token")
    return data


def unsubscribe_token(subscription) -> str:
    return signing.dumps(str(subscription.token), salt=UNSUBSCRIBE_SALT)


def read_unsubscribe_token(token: str) -> str:
    """The subscription token of a valid unsubscribe link (it never expires); raises ``signing.BadSignature``."""
    value = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    if not isinstance(value, str):
        raise signing.BadSignature("not a subscription")
    return value
