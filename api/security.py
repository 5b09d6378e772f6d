"""Bearer tokens for the API: who is calling, as which role, and which token it is.

A token is ``gp1.<payload>.<signature>``: the payload (base64url JSON) holds ``role``,
``sub`` (a steward id, a department code, a device id...), ``iat`` and ``exp`` (unix
seconds) and ``jti`` (a random id), signed with HMAC-SHA256 and the server's
``GRIDPLUS_API_TOKEN_SECRET``. No token store to keep in sync across API replicas, but no
token lives longer than ``GRIDPLUS_TOKEN_MAX_TTL`` (longer ones are neither minted nor
accepted), and one token (by ``jti``) or every token of a subject issued so far can be
revoked (``services.platform.revocation``; checked by ``api.auth``) without rotating the secret.
A town with its own identity provider puts it in front and maps its claims to ``Actor``.

Command line (uses ``GRIDPLUS_API_TOKEN_SECRET`` / ``GRIDPLUS_DATABASE_URL``)::

    python -m api.security supervisor NAME [--days 30]   # mint; the jti goes to stderr
    python -m api.security revoke --jti JTI | --subject ROLE:ID [--reason TEXT]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from schemas.platform.common import Actor
from settings import Settings, get_settings

PREFIX = "gp1"
DEFAULT_TTL = 30 * 24 * 3600
MAX_TTL = 90 * 24 * 3600  # the default of GRIDPLUS_TOKEN_MAX_TTL
CLOCK_SKEW = 60  # seconds an ``iat`` may be ahead of our clock (another host minted it)


class InvalidToken(Exception):
    """The token is malformed, forged, expired, too long-lived or revoked (the message says)."""


@dataclass(frozen=True)
class TokenClaims:
    """What a valid token says: who, which token, and when it was issued and expires."""

    actor: Actor
    jti: str
    iat: int
    exp: int


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if that is what it is."""
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:]
    return None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: str, payload: str) -> str:
    return _b64(hmac.new(secret.encode(), f"{PREFIX}.{payload}".encode(), hashlib.sha256).digest())


def issue_token(
    secret: str,
    actor: Actor,
    ttl_seconds: int = DEFAULT_TTL,
    *,
    max_ttl: int = MAX_TTL,
    now: float | None = None,
) -> str:
    """A signed token for ``actor`` valid ``ttl_seconds``; ValueError past ``max_ttl``."""
    if ttl_seconds > max_ttl:
        raise ValueError(f"a token may live at most {max_ttl} s; asked for {ttl_seconds} s")
    iat = int(time.time() if now is None else now)
    body = {
        "role": actor.role,
        "sub": actor.id,
        "iat": iat,
        "exp": iat + ttl_seconds,
        "jti": secrets.token_urlsafe(12),
    }
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    return f"{PREFIX}.{payload}.{_sign(secret, payload)}"


def read_claims(
    secret: str, token: str, *, max_ttl: int = MAX_TTL, now: float | None = None
) -> TokenClaims:
    """The claims of a genuine, current token; InvalidToken saying why otherwise.

    Revocation is not checked here (it needs the database): see ``api.auth``.
    """
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise InvalidToken("malformed token")
    payload, signature = parts[1], parts[2]
    if not hmac.compare_digest(signature.encode(), _sign(secret, payload).encode()):
        raise InvalidToken("bad signature")
    try:
        body = json.loads(_unb64(payload))
        exp, role, sub = int(body["exp"]), body["role"], body["sub"]
        iat, jti = body.get("iat"), body.get("jti")
        actor = Actor(role=role, id=sub)
    except (ValueError, KeyError, TypeError, ValidationError) as error:
        raise InvalidToken("malformed token") from error
    current = time.time() if now is None else now
    if exp < current:
        raise InvalidToken("token expired")
    if not isinstance(iat, int) or not isinstance(jti, str) or not jti:
        raise InvalidToken("token has no iat or jti (minted before tokens could be revoked)")
    if exp - iat > max_ttl:
        raise InvalidToken(f"token lifetime {exp - iat} s exceeds the maximum of {max_ttl} s")
    if iat > current + CLOCK_SKEW:
        raise InvalidToken("token issued in the future")
    return TokenClaims(actor=actor, jti=jti, iat=iat, exp=exp)


def read_token(secret: str, token: str, *, max_ttl: int = MAX_TTL) -> Actor:
    """The caller of a genuine, current token (revocation aside: see ``api.auth``)."""
    return read_claims(secret, token, max_ttl=max_ttl).actor


def max_ttl_of(settings: Settings) -> int:
    """``GRIDPLUS_TOKEN_MAX_TTL`` in whole seconds."""
    return int(settings.token_max_ttl.total_seconds())


def _mint(settings: Settings, args: argparse.Namespace) -> int:
    ttl = args.days * 24 * 3600
    secret = settings.api_token_secret.get_secret_value()
    try:
        token = issue_token(
            secret, Actor(role=args.role, id=args.subject), ttl, max_ttl=max_ttl_of(settings)
        )
    except ValueError as error:
        print(f"refused: {error} (GRIDPLUS_TOKEN_MAX_TTL)", file=sys.stderr)
        return 2
    except ValidationError as error:
        print(f"refused: {error}", file=sys.stderr)
        return 2
    claims = read_claims(secret, token, max_ttl=max_ttl_of(settings))
    print(token)
    print(f"jti={claims.jti} expires={claims.exp}", file=sys.stderr)
    return 0


async def _revoke(settings: Settings, args: argparse.Namespace) -> int:
    from services.platform import revocation
    from services.platform.db import make_engine, make_session_factory

    engine = make_engine(settings.database_url)
    try:
        sessions = make_session_factory(engine)
        request = revocation.RevokeRequest(jti=args.jti, subject=args.subject, reason=args.reason)
        row = await revocation.revoke(sessions, request, "cli", settings.token_max_ttl)
    finally:
        await engine.dispose()
    print(f"revoked {row.kind} {row.value} (tokens issued up to {row.not_before.isoformat()})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    settings = get_settings()
    if argv[:1] == ["revoke"]:
        parser = argparse.ArgumentParser(
            prog="python -m api.security revoke",
            description="Revoke API tokens (uses GRIDPLUS_DATABASE_URL); API processes "
            "notice within GRIDPLUS_TOKEN_REVOCATION_CACHE_SECONDS",
        )
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--jti", help="one token, by the id printed when it was minted")
        which.add_argument("--subject", help="every token issued so far to ROLE:ID")
        parser.add_argument("--reason", default=None)
        try:
            return asyncio.run(_revoke(settings, parser.parse_args(argv[1:])))
        except ValidationError as error:
            print(f"refused: {error}", file=sys.stderr)
            return 2
    parser = argparse.ArgumentParser(
        description="Issue an API token (uses GRIDPLUS_API_TOKEN_SECRET); "
        "`revoke --jti X | --subject ROLE:ID` revokes"
    )
    parser.add_argument(
        "role", help="supervisor, department, steward, inspector, device, citizen, enterprise"
    )
    parser.add_argument("subject", help="who: a supervisor's name, a department code, a steward id")
    parser.add_argument("--days", type=int, default=30)
    return _mint(settings, parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
