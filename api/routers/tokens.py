"""Revoking API tokens, for the linkage center: one token, or all of a subject's.

A supervisor names a token's ``jti`` (printed to stderr when it was minted, or read from
the token's payload) or a subject ``role:id`` (every token issued to it until now). The
revocation is stored (``token_revocation``) and this API process drops its cached list at
once; other replicas follow within ``GRIDPLUS_TOKEN_REVOCATION_CACHE_SECONDS``. The same
is available offline: ``python -m api.security revoke``.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import State, Supervisor
from schemas.cases.api import Problem
from services.platform import revocation
from services.platform.revocation import RevocationOut, RevokeRequest

router = APIRouter(prefix="/supervisors/tokens", tags=["supervisors"])


@router.post(
    "/revoke",
    response_model=RevocationOut,
    responses={
        400: {"model": Problem, "description": "the body is not UTF-8 JSON"},
        **{status: {"model": Problem} for status in (401, 403, 413, 422)},
    },
)
async def revoke(body: RevokeRequest, state: State, principal: Supervisor) -> RevocationOut:
    """Revoke a token (``jti``) or every token of a subject (``role:id``) issued so far.

    Revoking again is harmless (a subject's cut-off moves to now). A supervisor may revoke
    their own tokens too: this very request then counts as the last one they made with it.
    """
    stored = await revocation.revoke(
        state.sessions,
        body,
        f"{principal.role}:{principal.id}",
        state.settings.token_max_ttl,
    )
    state.revocations.invalidate()
    return stored
