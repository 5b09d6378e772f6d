"""Signatures: action tokens in bot messages and the HMAC over gateway requests.

An action token is bound to one steward, one case, one dispatch attempt and one action, so a
forwarded or replayed button press can never act on someone else's task or on a task that
was already reassigned. Request signatures follow Slack's scheme: ``v1=`` HMAC-SHA256 over
``v1:{timestamp}:{raw body}``.
"""

from __future__ import annotations

import hashlib
import hmac


def _mac(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def action_token(secret: str, case_id: str, steward_id: str, attempt: int, action: str) -> str:
    """A short token a steward's button carries back to us."""
    return _mac(secret, f"action|{case_id}|{steward_id}|{attempt}|{action}")[:32]


def check_action_token(
    secret: str, token: str, case_id: str, steward_id: str, attempt: int, action: str
) -> bool:
    return hmac.compare_digest(token, action_token(secret, case_id, steward_id, attempt, action))


def sign_body(secret: str, timestamp: str, body: bytes) -> str:
    """``v1=<hex>`` over timestamp and raw body (Slack's request-signing scheme)."""
    digest = hmac.new(secret.encode(), b"v1:" + timestamp.encode() + b":" + body, hashlib.sha256)
    return "v1=" + digest.hexdigest()


def check_body(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(signature, sign_body(secret, timestamp, body))
