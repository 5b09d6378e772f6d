"""One check for every door that takes an API token: signature, lifetime, revocation.

``current_principal`` (the ``Authorization`` header), the supervisor board's ``?token=``
and cookie, and Open311's ``api_key`` all come here, so a revoked or too long-lived token
is refused the same way everywhere. The revocation list is this process's cached copy
(``services.platform.revocation.RevocationCache``), so a request costs no database round trip.
"""

from __future__ import annotations

from api.security import InvalidToken, TokenClaims, max_ttl_of, read_claims
from schemas.platform.common import Actor
from services.platform.db import SessionFactory
from services.platform.revocation import RevocationCache
from settings import Settings


async def authenticate(
    settings: Settings, sessions: SessionFactory, revocations: RevocationCache, token: str
) -> Actor:
    """The caller behind ``token``; InvalidToken (-> 401) saying why it is refused."""
    claims: TokenClaims = read_claims(
        settings.api_token_secret.get_secret_value(), token, max_ttl=max_ttl_of(settings)
    )
    listed = await revocations.current(sessions)
    refusal = listed.refusal(claims.actor, claims.jti, claims.iat)
    if refusal is not None:
        raise InvalidToken(refusal)
    return claims.actor
