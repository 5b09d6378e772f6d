"""Who may call what: every route of the app, against every kind of caller.

``ROUTES`` is the expected matrix, written from what a town should allow (not read off the
code): route -> how callers prove who they are -> which callers get through. The suite walks
``app.routes``, so a new route without a line here fails until someone decides who may call
it. A caller let through may get any answer but 401/403 (bodies are minimal, ids made up, so
404/409/422 are expected); anyone else gets exactly 401 (no, forged or expired credentials)
or 403 (a valid caller of the wrong role or the wrong department/enterprise).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import pytest
from fastapi.routing import iter_route_contexts

from api.main import create_app
from schemas.inspections.checklists import InspectorIn
from services.inspections.registry import upsert_inspectors
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from settings import Settings
from tests.device_support import device
from tests.security_support import Api, forged_token, signed, token, unlimited_api
from tests.support import grid_point

__all__ = ["unlimited_api"]  # the module's "api" fixture, imported

Auth = Literal["bearer", "device_key", "signature", "api_key", "public", "session"]

# ---- the callers ----------------------------------------------------------------------------
DEPARTMENT, OTHER_DEPARTMENT = "urban_management", "traffic_police"
ENTERPRISE, OTHER_ENTERPRISE = "ET-ROLES-OWN", "ET-ROLES-OTHER"
INSPECTOR = "IT-ROLES-1"  # an inspector-role token of a registered inspector
BEARER_CALLERS = ("steward", "inspector", "department", "other_department", "enterprise",
                  "other_enterprise", "device", "supervisor", "citizen", "system")  # fmt: skip
OTHER_CALLERS = ("nobody", "forged", "expired", "device_key", "other_device_key", "gateway")
CALLERS = BEARER_CALLERS + OTHER_CALLERS

REGULATORS = frozenset({"supervisor", "department", "other_department"})
DEPARTMENTS = frozenset({"department", "other_department"})
STEWARDS = frozenset({"steward"})  # an inspector has a role of their own
EVERYONE = frozenset(CALLERS)


@dataclass(frozen=True)
class Rule:
    """How a route authenticates, and who it lets through."""

    auth: Auth
    allowed: frozenset[str] = field(default_factory=frozenset)


def bearer(*allowed: str | frozenset[str]) -> Rule:
    names = {n for a in allowed for n in ([a] if isinstance(a, str) else a)}
    return Rule("bearer", frozenset(names))


PUBLIC = Rule("public", EVERYONE)
SUPERVISOR_ACTIONS = (
    *("verify", "cancel", "reassign", "escalate"),
    *("urge", "extend", "merge", "reopen"),
)

# ---- the expected matrix: (method, path) -> rule ----------------------------------------------
ROUTES: dict[tuple[str, str], Rule] = {
    # framework and operations
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,  # keep off the public ingress (see api.metrics)
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    # cases: reporters file and follow; the full list is for the center and departments
    ("POST", "/cases"): bearer(STEWARDS, "supervisor", "citizen", "system"),
    ("GET", "/cases"): bearer(REGULATORS),
    ("GET", "/cases/{case_id}"): bearer(REGULATORS, STEWARDS, "citizen"),
    ("GET", "/cases/{case_id}/timeline"): bearer(REGULATORS, STEWARDS, "citizen"),
    # only the department named in the path
    **{
        ("POST", f"/departments/{{department}}/cases/{{case_id}}/{action}"): bearer("department")
        for action in ("accept", "result", "return", "extension", "suspension")
    },
    # only the linkage center
    **{
        ("POST", f"/supervisors/cases/{{case_id}}/{action}"): bearer("supervisor")
        for action in SUPERVISOR_ACTIONS
    },
    ("POST", "/stewards/import"): bearer("supervisor"),
    ("POST", "/supervisors/calendar"): bearer("supervisor"),
    ("GET", "/supervisors/calendar/{year}"): bearer("supervisor"),
    ("POST", "/supervisors/rosters"): bearer("supervisor"),
    ("GET", "/supervisors/rosters/{team}"): bearer("supervisor"),
    ("DELETE", "/supervisors/rosters/{team}"): bearer("supervisor"),
    ("POST", "/supervisors/cases/{case_id}/suspension/decision"): bearer("supervisor"),
    ("POST", "/supervisors/cases/{case_id}/resume"): bearer("supervisor"),
    ("POST", "/supervisors/tokens/revoke"): bearer("supervisor"),
    ("GET", "/stewards"): bearer("supervisor"),
    ("GET", "/stats/evaluation"): bearer("supervisor"),
    ("GET", "/supervisor"): bearer("supervisor"),
    # machines and the chat-bot gateway prove themselves otherwise than with a bearer token
    ("POST", "/bot/callback"): Rule("signature", frozenset({"gateway"})),
    ("POST", "/bot/presence"): Rule("signature", frozenset({"gateway"})),
    ("POST", "/bot/report"): Rule("signature", frozenset({"gateway"})),
    ("POST", "/bot/attachments"): Rule("signature", frozenset({"gateway"})),
    # attachments (issue 16): uploads by whoever cites evidence; links for the case's readers
    # (the per-case check is tests/test_attachment_api.py); a signed link is the permission
    ("POST", "/attachments"): bearer(
        STEWARDS, REGULATORS, "citizen", "inspector", "enterprise", "other_enterprise"
    ),
    ("GET", "/attachments/{attachment_id}"): bearer(STEWARDS, REGULATORS, "citizen", "inspector"),
    ("GET", "/files/{attachment_id}/{variant}"): PUBLIC,
    # the reporter's satisfaction follow-up (the reporter check: tests/test_satisfaction.py)
    ("POST", "/cases/{case_id}/satisfaction"): bearer(STEWARDS, "citizen"),
    # the Open311 citizen's signed rating link is the permission (tests/test_rating_link.py)
    ("POST", "/satisfaction/{token}"): PUBLIC,
    ("POST", "/devices/{device_id}/detections"): Rule("device_key", frozenset({"device_key"})),
    ("POST", "/devices/{device_id}/events"): Rule("device_key", frozenset({"device_key"})),
    # Open311: public reads; filing needs a client application's api_key (role system)
    ("GET", "/open311/v2/services.{fmt}"): PUBLIC,
    ("GET", "/open311/v2/services/{service_code}.{fmt}"): PUBLIC,
    ("GET", "/open311/v2/requests/{service_request_id}.{fmt}"): PUBLIC,
    ("GET", "/open311/v2/requests.{fmt}"): PUBLIC,
    ("GET", "/open311/v2/tokens/{token}.{fmt}"): PUBLIC,
    ("POST", "/open311/v2/requests.{fmt}"): Rule("api_key", frozenset({"system"})),
    # joint inspections
    ("POST", "/inspections"): bearer(REGULATORS),
    ("GET", "/inspections"): bearer(REGULATORS, "inspector", "enterprise", "other_enterprise"),
    ("GET", "/inspections/{inspection_id}"): bearer(
        REGULATORS, "inspector", "enterprise", "other_enterprise"
    ),
    ("POST", "/inspections/{inspection_id}/visit"): bearer("inspector"),
    ("POST", "/inspections/{inspection_id}/results"): bearer("inspector"),
    ("POST", "/inspections/{inspection_id}/finish"): bearer("inspector"),
    ("POST", "/inspections/{inspection_id}/cancel"): bearer("supervisor"),
    ("POST", "/campaigns"): bearer("supervisor"),
    ("GET", "/campaigns/{campaign_id}"): bearer(REGULATORS),
    ("GET", "/rectifications/{rectification_id}"): bearer(
        REGULATORS, "inspector", "enterprise", "other_enterprise"
    ),
    ("POST", "/rectifications/{rectification_id}/reinspection"): bearer("inspector", DEPARTMENTS),
    ("POST", "/rectifications/{rectification_id}/enforcement"): bearer(DEPARTMENTS),
    ("POST", "/rectifications/{rectification_id}/cancel"): bearer("supervisor"),
    # an enterprise's own records (the path names ENTERPRISE); regulators may read them
    ("POST", "/enterprises/{enterprise_id}/records"): bearer("enterprise"),
    ("GET", "/enterprises/{enterprise_id}/records"): bearer("enterprise", REGULATORS),
    ("POST", "/enterprises/{enterprise_id}/observations"): bearer("device"),
    ("GET", "/enterprises/{enterprise_id}/rectifications"): bearer("enterprise", REGULATORS),
    ("POST", "/enterprises/{enterprise_id}/rectifications/{rectification_id}/proof"): bearer(
        "enterprise"
    ),
    ("GET", "/reports/inspections/enterprises"): bearer(REGULATORS),
    ("GET", "/reports/inspections/departments"): bearer(REGULATORS),
    ("GET", "/reports/inspections/grids"): bearer(REGULATORS),
    ("GET", "/reports/inspections/rounds/{campaign_id}"): bearer(REGULATORS),
    # the workbench pages (api/web) take a session cookie, never a bearer token: without one
    # a page sends the browser to sign in, and an action is refused (tests/test_web_*.py
    # check sessions, CSRF and roles there)
    **{("GET", f"/web/{page}"): PUBLIC for page in ("", "signin", "go", "lang/{lang}")},
    **{("GET", f"/web/oidc/{step}"): PUBLIC for step in ("start", "callback")},
    ("GET", "/web/cases/{case_id}"): PUBLIC,
    # the workbench's pages send a browser without a session to the sign-in form
    **{("GET", f"/web/{page}"): PUBLIC for page in ("queue", "desk", "evaluation")},
    ("GET", "/web/export/{what}.{fmt}"): PUBLIC,
    ("POST", "/web/signin"): PUBLIC,
    ("POST", "/web/signout"): PUBLIC,
    ("POST", "/web/cases/{case_id}/{action}"): Rule("session"),
}

NOW = datetime.now(UTC).isoformat()
# Valid bodies where a route checks the caller only after reading the body (a dummy body
# would then be refused with 422 before the check); ``{}`` elsewhere.
BODIES: dict[str, Any] = {
    "/result": {"note": "done"},
    "/return": {"reason": "not ours"},
    "/extension": {"extra": "PT1H", "reason": "parts on order"},
    "/verify": {"passed": True},
    "/urge": {"note": "hurry"},
    "/extend": {"extra": "PT1H", "reason": "weather"},
    "/suspension": {
        "reason_code": "awaiting_funds",
        "reason": "budget",
        "resume_condition": "funds",
    },
    "/decision": {"approve": True},
    "/resume": {"note": "back"},
    "/merge": {"target_case_id": "GP-FFFFFFFFFFFFFFFF", "reason": "duplicate"},
    "/reinspection": {"passed": True},
    "/enforcement": {"measure": "order", "note": "fix it"},
    "/records": {"kind": "hot_work", "started_at": NOW},
    "/observations": {"kind": "hot_work", "started_at": NOW},
    "/proof": {"note": "fixed", "evidence": [{"kind": "photo", "url": "https://x.example/1.jpg"}]},
    "/inspections": {"enterprise_id": "ET-NONE"},
    "/satisfaction": {"rating": 5},
    **{f"/{a}": {"reason": "test"} for a in ("cancel", "reassign", "escalate", "reopen")},
}
PATH_VALUES = {
    "case_id": "GP-0000000000000000",
    "department": DEPARTMENT,
    "enterprise_id": ENTERPRISE,
    "inspection_id": "IN-ROLES-NONE",
    "rectification_id": "RC-ROLES-NONE",
    "campaign_id": "CP-ROLES-NONE",
    "year": "2026",
    "team": "G001",
    "fmt": "json",
    "service_code": "illegal_parking",
    "service_request_id": "none",
    "token": "none",
    "lang": "en",
    "action": "urge",
    "attachment_id": "0" * 32,
    "variant": "thumb",
    "what": "cases",
}


APP = create_app(Settings())
DOCUMENTED: dict[str, dict[str, Any]] = APP.openapi()["paths"]


def app_routes() -> set[tuple[str, str]]:
    """Every (method, path) the app answers, HEAD aside (Starlette adds it to each GET)."""
    app = APP
    return {
        (method, str(route.path))
        for route in iter_route_contexts(app.routes)
        for method in (route.methods or ())
        if method != "HEAD"
    }


def test_every_route_has_a_line_in_the_matrix() -> None:
    routes = app_routes()
    assert sorted(routes - ROUTES.keys()) == [], "new routes: say who may call them in ROUTES"
    assert sorted(ROUTES.keys() - routes) == [], "ROUTES names routes the app no longer has"


def expected(rule: Rule, caller: str) -> str:
    """``pass`` (any answer but 401/403), ``401`` or ``403``."""
    if caller in rule.allowed:
        return "pass"
    if rule.auth == "bearer":
        return "403" if caller in BEARER_CALLERS else "401"
    if rule.auth in ("api_key", "session"):
        return "403"  # GeoReport v2: a missing or invalid api_key is a 403; a page's POST too
    return "401"


@dataclass
class Callers:
    """Credentials of every caller, and the registered devices the device routes name."""

    settings: Settings
    camera: tuple[str, str]
    other_camera: tuple[str, str]
    at: dict[str, float]

    def bearer_token(self, caller: str) -> str | None:
        subjects: dict[str, tuple[Any, str]] = {
            "steward": ("steward", "S0001"),
            "inspector": ("inspector", INSPECTOR),
            "department": ("department", DEPARTMENT),
            "other_department": ("department", OTHER_DEPARTMENT),
            "enterprise": ("enterprise", ENTERPRISE),
            "other_enterprise": ("enterprise", OTHER_ENTERPRISE),
            "device": ("device", "CAM-BEARER-1"),
            "supervisor": ("supervisor", "center-roles"),
            "citizen": ("citizen", "c-roles"),
            "system": ("system", "citizen-app"),
        }
        if caller in subjects:
            return token(self.settings, *subjects[caller])
        if caller == "forged":
            return forged_token(self.settings)
        if caller == "expired":
            return token(self.settings, "supervisor", "center-roles", ttl_seconds=-60)
        return None

    def request(self, method: str, path: str, rule: Rule, caller: str) -> dict[str, Any]:
        url = path.format(**PATH_VALUES, device_id=self.camera[0])
        suffix = "/" + path.rsplit("/", 1)[-1]
        body: Any = BODIES.get(suffix, {})
        if path == "/cases":
            body = {"case_type": "illegal_parking", "location": self.at}
        headers: dict[str, str] = {}
        secret = self.bearer_token(caller)
        if rule.auth == "api_key":
            form = {"api_key": secret} if secret else {}
            return {"method": method, "url": url, "data": form}
        if secret:
            headers["Authorization"] = f"Bearer {secret}"
        if caller == "device_key":
            headers["X-Device-Key"] = self.camera[1]
        if caller == "other_device_key":
            headers["X-Device-Key"] = self.other_camera[1]
        if path == "/stewards/import":
            return {"method": method, "url": url, "headers": headers, "json": []}
        raw = json.dumps(body).encode()
        if path == "/bot/attachments":  # signed over the steward it uploads for, not the body
            url += "?steward_id=S0001"
            if caller == "gateway":
                headers.update(signed(self.settings, b"attachments:S0001"))
        elif caller == "gateway":
            headers.update(signed(self.settings, raw))
        if method == "GET":
            return {"method": method, "url": url, "headers": headers}
        headers["content-type"] = "application/json"
        return {"method": method, "url": url, "headers": headers, "content": raw}


@pytest.fixture(scope="module")
async def callers(sessions: SessionFactory, grids: GridIndex, settings: Settings) -> Callers:
    inspector = InspectorIn(id=INSPECTOR, name="角色检查员", grid_id="G001",
                            qualifications=["fire"], on_duty=False)  # fmt: skip
    await upsert_inspectors(sessions, [inspector])  # off duty: no round books them
    # the bearer "device" caller is a camera bound to ENTERPRISE (the observations path)
    await device(sessions, grids, "G020", enterprise_id=ENTERPRISE, device_id="CAM-BEARER-1")
    camera = await device(sessions, grids, "G020")
    other = await device(sessions, grids, "G021")
    at = grid_point(grids, "G020")
    return Callers(settings, (camera.id, camera.key), (other.id, other.key),
                   {"lat": at.lat, "lon": at.lon})  # fmt: skip


def _outcome(status: int) -> str:
    return str(status) if status in (401, 403) else "pass"


@pytest.mark.parametrize(("method", "path"), sorted(ROUTES), ids=[f"{m} {p}" for m, p in
                                                                  sorted(ROUTES)])  # fmt: skip
async def test_route_answers_each_caller_as_the_matrix_says(
    api: Api, callers: Callers, method: str, path: str
) -> None:
    rule = ROUTES[(method, path)]
    documented = DOCUMENTED.get(path, {}).get(method.lower(), {}).get("responses")
    wrong: list[str] = []
    for caller in CALLERS:
        response = await api.client.request(**callers.request(method, path, rule, caller))
        want, got = expected(rule, caller), _outcome(response.status_code)
        if want != got or response.status_code >= 500:
            wrong.append(
                f"{caller}: expected {want}, got {response.status_code} {response.text[:160]!r}"
            )
        elif got != "pass" and documented is not None and got not in documented:
            wrong.append(f"{caller}: {got} is right, but the OpenAPI schema does not list it")
    assert not wrong, f"{method} {path}\n  " + "\n  ".join(wrong)


async def test_a_reporter_cannot_claim_another_source_to_get_past_its_role(
    api: Api, callers: Callers
) -> None:
    """``source`` in the body must not let an enterprise or a department file a case."""
    body = {"case_type": "illegal_parking", "location": callers.at, "source": "citizen"}
    for caller in ("enterprise", "department", "device"):
        secret = callers.bearer_token(caller)
        headers = {"Authorization": f"Bearer {secret}"}
        response = await api.client.post("/cases", json=body, headers=headers)
        assert response.status_code == 403, (caller, response.status_code, response.text[:200])


async def test_a_401_says_how_to_authenticate(api: Api) -> None:
    answer = await api.client.get("/cases")
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert answer.json()["error"] == "unauthorized"
    device_answer = await api.client.post("/devices/CAM-X/detections", json={})
    assert device_answer.status_code == 401
    assert device_answer.headers["WWW-Authenticate"] == "DeviceKey"
