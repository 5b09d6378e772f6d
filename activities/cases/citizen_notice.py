"""A citizen who left a contact with an Open311 report hears when it is resolved and closed.

Open311 clients poll the request's status (the projection); a citizen who gave an e-mail
or a phone number is also sent a notice through the department-message gateway (the
town's SMS/e-mail relay), kinds ``citizen_resolved`` and ``citizen_closed``. It rides on
the projection step, which sees every timeline entry exactly where the case reached it:
no workflow command changes, and the message key ``{case}:{seq}:{kind}:citizen`` makes a
retried projection store and send it once (``deliver_once``). A refused delivery is
left queued for the citizen's next notice; it never fails the projection.

``citizen_closed`` carries a rating link (``rating_url``, also in the text): a signed token
bound to the case and this closing, valid for the catalog's ``followup.window`` from the
closing (``services.cases.rating_links``), since the citizen holds no API token.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import SecretStr

from activities.messaging.delivery import deliver_once
from activities.messaging.gateways import Gateway
from schemas.cases.views import ProjectionBatch, TimelineEntry
from schemas.intake.tables import Open311Request
from services.cases.rating_links import rating_url, sign_rating
from services.platform.db import SessionFactory
from services.platform.messages import case_type_name, render_department


def notices_in(batch: ProjectionBatch) -> list[tuple[TimelineEntry, str]]:
    """(entry, kind) of the notices this batch's entries call for."""
    found = []
    for entry in batch.entries:
        if entry.status == "resolved":
            found.append((entry, "citizen_resolved"))
        elif entry.kind == "closed":
            found.append((entry, "citizen_closed"))
    return found


class RatingLinks:
    """Mints the ``citizen_closed`` notice's rating link (secret, public URL, window)."""

    def __init__(self, secret: SecretStr, base_url: str, window: timedelta) -> None:
        self._secret = secret
        self._base_url = base_url
        self._window = window

    def for_closing(self, case_id: str, entry: TimelineEntry) -> str:
        expires = int((entry.at + self._window).timestamp())
        token = sign_rating(self._secret, case_id, entry.seq, expires)
        return rating_url(self._base_url, token)


class CitizenNotices:
    """Sends the notices of projected batches; built once per worker."""

    def __init__(
        self, sessions: SessionFactory, gateway: Gateway, url: str | None, links: RatingLinks
    ) -> None:
        self._sessions = sessions
        self._gateway = gateway
        self._url = url
        self._links = links

    async def after(self, batch: ProjectionBatch) -> None:
        case = batch.case
        due = notices_in(batch) if case.source == "open311" else []
        if not due:
            return
        async with self._sessions() as session:
            request = await session.get(Open311Request, case.case_id)
        if request is None or not (request.email or request.phone):
            return
        for entry, kind in due:
            key = f"{case.case_id}:{entry.seq}:{kind}:citizen"
            link = self._links.for_closing(case.case_id, entry) if kind == "citizen_closed" else ""
            context = {
                "case_id": case.case_id,
                "case_type_name": case_type_name(case.case_type, "zh"),
                "rating_url": link,
            }
            payload: dict[str, object] = {
                "message_id": key,
                "kind": kind,
                "case_id": case.case_id,
                "service_request_id": request.service_request_id,
                "contact": {"email": request.email, "phone": request.phone},
                "text": render_department(kind, context),
            }
            if link:
                payload["rating_url"] = link
            await deliver_once(
                self._sessions,
                self._gateway,
                key,
                "department",
                f"citizen:{case.case_id}",
                case.case_id,
                kind,
                payload,
                self._url,
                raise_refusal=False,
            )
