"""A citizen's rating link (回访 for Open311 reports): an HMAC over (case, closing, expiry).

An Open311 report's recorded reporter is the client app, so the citizen who filed it holds no
bearer token for ``/cases/{id}/satisfaction``. The ``citizen_closed`` notice therefore
carries a link whose token is the permission: it names one case and one closing (the
timeline seq of the ``closed`` entry, so a link of an earlier closing cannot rate a later
one) and stops working at its expiry (the closing plus ``followup.window``). The MAC is
keyed with the API token secret under its own label, so a rating token can never pass for
an API token or a bot action token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass

from pydantic import SecretStr

LABEL = b"rating-link\n"


class RatingLinkRefused(Exception):
    """A token that does not rate: ``status`` 403 (forged, altered) or 410 (expired)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class RatingGrant:
    """What a valid token allows: rating this closing of this case."""

    case_id: str
    closing: int
    expires: int


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: SecretStr, claims: str) -> str:
    key = secret.get_secret_value().encode()
    return _b64(hmac.new(key, LABEL + claims.encode(), hashlib.sha256).digest())


def sign_rating(secret: SecretStr, case_id: str, closing: int, expires: int) -> str:
    """The token of a link valid until ``expires`` (epoch seconds)."""
    claims = _b64(json.dumps([case_id, closing, expires], separators=(",", ":")).encode())
    return f"{claims}.{_mac(secret, claims)}"


def verify_rating(secret: SecretStr, token: str, *, now: float) -> RatingGrant:
    """The grant of a valid token; raises ``RatingLinkRefused`` otherwise."""
    claims, _, signature = token.partition(".")
    if not hmac.compare_digest(_mac(secret, claims).encode(), signature.encode()):
        raise RatingLinkRefused(403, "the rating link's signature does not match")
    try:
        case_id, closing, expires = json.loads(_unb64(claims))
        grant = RatingGrant(str(case_id), int(closing), int(expires))
    except (ValueError, TypeError) as error:
        raise RatingLinkRefused(403, "malformed rating link") from error
    if grant.expires <= now:
        raise RatingLinkRefused(410, "the rating link has expired")
    return grant


def rating_url(base_url: str, token: str) -> str:
    """Where the notice sends the citizen (``POST`` with ``{"rating", "comment"}``)."""
    return f"{base_url.rstrip('/')}/satisfaction/{token}"
