"""Sign-in through the province's SSO: the OpenID Connect authorization-code flow with PKCE.

Off unless ``GRIDPLUS_OIDC_ISSUER`` is set. The provider's discovery document gives its
endpoints; the ``id_token`` from its token endpoint is checked with PyJWT against the
provider's JWKS (signature, issuer, audience, expiry, and our nonce). Its claims map to the
same ``Actor`` a bearer token gives (``GRIDPLUS_OIDC_ROLE_CLAIM`` through ``_ROLE_MAP``;
a department clerk acts as their department code), so the pages' actions run through the
same services and validators whatever the sign-in. State, nonce and PKCE verifier wait in a
short-lived cookie signed with itsdangerous (``GRIDPLUS_WEB_SESSION_SECRET``).
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from pydantic import ValidationError

from api.deps import State
from api.web import sessions
from api.web.render import redirect, safe_next
from schemas.platform.common import Actor
from settings import Settings

router = APIRouter(prefix="/web/oidc", include_in_schema=False)
FLOW_COOKIE = "gridplus_oidc"
FLOW_SECONDS = 600
ALGORITHMS = ["RS256", "ES256", "PS256", "EdDSA"]
ID = re.compile(r"[A-Za-z0-9_.:-]+")  # schemas.platform.common.Identifier


def oidc_enabled(settings: Settings) -> bool:
    return bool(settings.oidc_issuer and settings.oidc_client_id)


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.web_session_secret.get_secret_value(), "oidc-flow")


def callback_url(settings: Settings) -> str:
    return settings.public_base_url.rstrip("/") + "/web/oidc/callback"


async def discover(settings: Settings) -> dict[str, Any]:
    """The provider's ``.well-known/openid-configuration`` (its issuer must be ours)."""
    issuer = (settings.oidc_issuer or "").rstrip("/")
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.get(f"{issuer}/.well-known/openid-configuration")
        answer.raise_for_status()
    document: dict[str, Any] = answer.json()
    if document.get("issuer", "").rstrip("/") != issuer:
        raise HTTPException(502, "the SSO's discovery document names another issuer")
    return document


@router.get("/start")
async def start(request: Request, state: State) -> Response:
    """Send the browser to the provider, with state, nonce and a PKCE challenge."""
    settings = state.settings
    if not oidc_enabled(settings):
        raise HTTPException(404, "single sign-on is not configured")
    document = await discover(settings)
    flow = {
        "state": secrets.token_urlsafe(24),
        "nonce": secrets.token_urlsafe(24),
        "verifier": secrets.token_urlsafe(48),
        "next": safe_next(request.query_params.get("next")),
    }
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(flow["verifier"].encode()).digest())
        .rstrip(b"=")
        .decode()
    )
    query = urlencode(
        {
            "response_type": "code",
            "client_id": settings.oidc_client_id,
            "redirect_uri": callback_url(settings),
            "scope": settings.oidc_scopes,
            "state": flow["state"],
            "nonce": flow["nonce"],
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    response = redirect(f"{document['authorization_endpoint']}?{query}")
    response.set_cookie(
        FLOW_COOKIE,
        _serializer(settings).dumps(flow),
        max_age=FLOW_SECONDS,
        path="/web/oidc",
        httponly=True,
        samesite="lax",
        secure=sessions.secure_cookies(settings, request),
    )
    return response


async def _id_token_claims(settings: Settings, code: str, verifier: str) -> dict[str, Any]:
    document = await discover(settings)
    secret = settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else ""
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.post(
            document["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": callback_url(settings),
                "code_verifier": verifier,
            },
            auth=(settings.oidc_client_id or "", secret),
        )
        if answer.status_code != 200:
            raise HTTPException(401, f"the SSO refused the code ({answer.status_code})")
        keys = (await http.get(document["jwks_uri"])).json()
    token = answer.json().get("id_token")
    if not isinstance(token, str):
        raise HTTPException(401, "the SSO sent no id_token")
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        jwks = jwt.PyJWKSet.from_dict(keys)
        key = next(k for k in jwks.keys if kid is None or k.key_id == kid)
        claims: dict[str, Any] = jwt.decode(
            token,
            key=key,
            algorithms=ALGORITHMS,
            audience=settings.oidc_client_id,
            issuer=document["issuer"],
            options={"require": ["exp", "iat", "sub", "aud", "iss"]},
        )
    except (jwt.PyJWTError, StopIteration) as error:
        raise HTTPException(401, f"the id_token is not valid: {error}") from error
    return claims


def principal_from_claims(
    settings: Settings, claims: dict[str, Any]
) -> tuple[Actor, str, tuple[str, ...], bool]:
    """(actor, username, grids, all_grids) from the id_token; 403 when no role maps."""
    role = settings.oidc_role_map.get(str(claims.get(settings.oidc_role_claim, "")))
    if role is None:
        raise HTTPException(403, "your SSO account has no role on these pages")
    username = str(claims.get(settings.oidc_username_claim) or claims["sub"])
    raw_grids = claims.get(settings.oidc_grids_claim) or []
    grids = raw_grids.split(",") if isinstance(raw_grids, str) else list(raw_grids)
    all_grids = "*" in grids
    department = claims.get(settings.oidc_department_claim)
    try:
        if role == "department":
            if not department:
                raise HTTPException(403, "a department clerk's SSO account names no department")
            actor = Actor(role="department", id=str(department))
        else:
            # an email-like username is no Identifier: then the stable ``sub`` names them
            valid = ID.fullmatch(username) and len(username) <= 64
            actor = Actor(role="supervisor", id=username if valid else str(claims["sub"]))
    except ValidationError as error:
        raise HTTPException(403, "the SSO's user or department id is not usable here") from error
    return actor, username, tuple(g for g in grids if g != "*"), all_grids


@router.get("/callback")
async def callback(request: Request, state: State) -> Response:
    """Back from the provider: check state, redeem the code, check the id_token, sign in."""
    settings = state.settings
    try:
        flow = _serializer(settings).loads(
            request.cookies.get(FLOW_COOKIE, ""), max_age=FLOW_SECONDS
        )
    except BadSignature as error:
        raise HTTPException(400, "the sign-in took too long or came from elsewhere") from error
    given = request.query_params.get("state", "")
    if not secrets.compare_digest(given.encode(), str(flow["state"]).encode()):
        raise HTTPException(400, "state mismatch")
    code = request.query_params.get("code")
    if not code:
        raise HTTPException(401, request.query_params.get("error", "no code"))
    claims = await _id_token_claims(settings, code, flow["verifier"])
    if not secrets.compare_digest(str(claims.get("nonce", "")).encode(), flow["nonce"].encode()):
        raise HTTPException(401, "nonce mismatch")
    actor, username, grids, all_grids = principal_from_claims(settings, claims)
    key = await sessions.start_session(
        state.sessions,
        settings,
        actor=actor,
        username=f"oidc:{username}"[:140],
        display_name=str(claims.get("name") or username)[:120],
        grids=grids,
        all_grids=all_grids,
        method="oidc",
    )
    response = redirect(flow["next"])
    sessions.set_session_cookie(response, request, settings, key)
    response.delete_cookie(FLOW_COOKIE, path="/web/oidc")
    return response
