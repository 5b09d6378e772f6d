"""Bearer tokens for the API: who is calling, as which role.

A token is ``gp1.<payload>.<signature>``: the payload names a role and a subject (a
steward id, a department code, a device id...) and an expiry, signed with HMAC-SHA256 and
the server's ``GRIDPLUS_API_TOKEN_SECRET``. No token store to keep in sync across API
replicas; revocation is by rotating the secret or by the short expiry. A town with its own
identity provider puts it in front and maps its claims to the same ``Actor``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import time

from pydantic import ValidationError

from schemas.common import Actor
from settings import get_settings

PREFIX = "gp1"
DEFAULT_TTL = 30 * 24 * 3600


class InvalidToken(Exception):
    """The token is malformed, forged or expired."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: str, payload: str) -> str:
    return _b64(hmac.new(secret.encode(), f"{PREFIX}.{payload}".encode(), hashlib.sha256).digest())


def issue_token(secret: str, actor: Actor, ttl_seconds: int = DEFAULT_TTL) -> str:
    body = {"role": actor.role, "sub": actor.id, "exp": int(time.time()) + ttl_seconds}
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    return f"{PREFIX}.{payload}.{_sign(secret, payload)}"


def read_token(secret: str, token: str) -> Actor:
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise InvalidToken("malformed token")
    payload, signature = parts[1], parts[2]
    if not hmac.compare_digest(signature, _sign(secret, payload)):
        raise InvalidToken("bad signature")
    try:
        body = json.loads(_unb64(payload))
        if int(body["exp"]) < time.time():
            raise InvalidToken("token expired")
        return Actor(role=body["role"], id=body["sub"])
    except (ValueError, KeyError, TypeError, ValidationError) as error:
        raise InvalidToken("malformed token") from error


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Issue an API token (uses GRIDPLUS_API_TOKEN_SECRET)"
    )
    parser.add_argument(
        "role", help="supervisor, department, steward, inspector, device, citizen, enterprise"
    )
    parser.add_argument("subject", help="who: a supervisor's name, a department code, a steward id")
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    secret = get_settings().api_token_secret.get_secret_value()
    print(issue_token(secret, Actor(role=args.role, id=args.subject), args.days * 24 * 3600))


if __name__ == "__main__":
    main()
