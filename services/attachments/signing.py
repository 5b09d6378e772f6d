"""Short-lived download links: an HMAC over (attachment id, variant, expiry).

A page or a chat message shows a photo through a link like
``/attachments/{id}/{variant}?exp=1764489600&sig=...``. The link carries no token (a chat
app's image viewer would not send one), so the link itself is the permission: it names one
attachment and one variant, and stops working at ``exp``. The API verifies it with
``verify_link`` before streaming from storage; a forged, altered or expired link is refused.

Which variant a role may have is decided when the link is made (``variant_for``): only the
center is given ``original``, the file with its EXIF (time and GPS as evidence); everyone
else gets ``public`` (metadata stripped) or ``thumb``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from enum import StrEnum

from pydantic import SecretStr

from settings import Settings, env_name, weak_secret

CENTER_ROLE = "supervisor"  # the command center's staff (``api.security`` roles)


class Variant(StrEnum):
    ORIGINAL = "original"  # as uploaded, EXIF and all: the center only
    PUBLIC = "public"  # metadata stripped (HEIC as JPEG)
    THUMB = "thumb"  # a small upright JPEG for lists and pages


class LinkRefused(Exception):
    """A download link that does not open its file: ``status`` 403 (forged or altered) or
    410 (expired; the page should ask for a new one)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def variant_for(role: str, wanted: Variant) -> Variant:
    """The variant a role is given when it asks for ``wanted``: originals (with EXIF time and
    GPS) are the center's, i.e. the ``supervisor`` role's; every other role gets the public
    copy."""
    if wanted is Variant.ORIGINAL and role != CENTER_ROLE:
        return Variant.PUBLIC
    return wanted


def _mac(secret: SecretStr, attachment_id: str, variant: Variant, expires: int) -> str:
    message = f"attachment-link\n{attachment_id}\n{variant.value}\n{expires}".encode()
    digest = hmac.new(secret.get_secret_value().encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign_link(
    secret: SecretStr, attachment_id: str, variant: Variant, *, now: float, ttl_seconds: int
) -> dict[str, str]:
    """The query parameters (``exp``, ``sig``) of a link valid for ``ttl_seconds``."""
    expires = int(now) + ttl_seconds
    return {"exp": str(expires), "sig": _mac(secret, attachment_id, variant, expires)}


def verify_link(
    secret: SecretStr,
    attachment_id: str,
    variant: str,
    expires: str,
    signature: str,
    *,
    now: float,
    max_ttl_seconds: int,
) -> Variant:
    """The variant a valid link opens; raises ``LinkRefused`` otherwise.

    ``max_ttl_seconds`` also bounds ``exp`` from above: a link minted with a leaked secret
    for the year 2100 is refused as if forged.
    """
    try:
        which = Variant(variant)
        expires_at = int(expires)
    except ValueError as error:
        raise LinkRefused(403, "malformed link") from error
    expected = _mac(secret, attachment_id, which, expires_at)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise LinkRefused(403, "the link's signature does not match")
    if expires_at > now + max_ttl_seconds:
        raise LinkRefused(403, "the link claims a lifetime longer than allowed")
    if expires_at <= now:
        raise LinkRefused(410, "the link has expired; ask for a new one")
    return which


def check_link_secret(settings: Settings) -> None:
    """Refuse, in production, a link secret that is weak, a placeholder, or shared with
    another secret (one leaked value must not open two doors). The API calls it at start-up
    once it serves attachment links; it lives here, not in ``Settings``, until then, so a
    deployment without attachments is not asked for a secret it does not use."""
    if settings.environment != "production":
        return
    name = env_name("attachments_url_secret")
    value = settings.attachments_url_secret.get_secret_value()
    problem = weak_secret(value)
    if problem:
        raise ValueError(f"{name} {problem}")
    others = (settings.bot_secret, settings.api_token_secret, settings.metrics_token)
    if any(other is not None and other.get_secret_value() == value for other in others):
        raise ValueError(f"{name} must differ from the other secrets")
