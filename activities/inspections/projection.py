"""Messages and projection of joint inspections and rectifications.

Messages follow ``activities.cases.notify``: written to the ``notification`` table first, keyed
so a retried activity never sends twice, then delivered through the recipient's outbox
queue, in the order queued for that recipient across inspections and cases
(``activities.messaging.delivery``; departments to their own system or the department gateway,
inspectors through the bot gateway; enterprises and the linkage center read the table as
their inbox). Projection writes are idempotent upserts that only
move forward (``last_seq``), so a retried, older write never overwrites a newer one.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from temporalio import activity

from activities.messaging.delivery import deliver_once
from activities.messaging.gateways import Gateway
from constants import (
    ACT_NOTIFY_PARTY,
    ACT_PROJECT_INSPECTION,
    ACT_PROJECT_RECTIFICATION,
    ACT_SEND_SECTIONS,
)
from schemas.inspections.activity import (
    DepartmentSection,
    InspectionProjection,
    PartyMessage,
    SectionBatch,
)
from schemas.inspections.rectification import RectificationProjection
from schemas.inspections.tables import HazardRecord, InspectionFinding, InspectionRecord
from schemas.platform.common import town_time
from schemas.platform.tables import DepartmentRow
from services.platform.db import SessionFactory, newest_wins_upsert, upsert_insert
from services.platform.messages import environment


def render(kind: str, context: dict[str, Any]) -> str:
    return environment().get_template(f"inspection/{kind}.j2").render(**context).strip()


class InspectionRecordActivities:
    """Notifications, department sections and projection writes; built once per worker."""

    def __init__(
        self,
        session_factory: SessionFactory,
        gateway: Gateway,
        bot_url: str | None,
        department_url: str | None,
    ) -> None:
        self._sessions = session_factory
        self._gateway = gateway
        self._bot_url = bot_url
        self._department_url = department_url

    @activity.defn(name=ACT_NOTIFY_PARTY)
    async def notify_inspection_party(self, message: PartyMessage) -> None:
        key = f"{message.ref_id}:{message.seq}:{message.kind}:{message.recipient}"
        if message.tag:
            key += f":{message.tag}"
        payload = {
            "message_id": key,
            "channel": message.channel,
            "recipient": message.recipient,
            "ref_id": message.ref_id,
            "kind": message.kind,
            "text": render(message.kind, message.context),
            "context": message.context,
        }
        url = await self._url(message.channel, message.recipient)
        await self._deliver(key, message.channel, message.recipient, message.ref_id, message.kind,
                            payload, url)  # fmt: skip

    @activity.defn(name=ACT_SEND_SECTIONS)
    async def send_department_sections(self, batch: SectionBatch) -> None:
        """Each department its own section, its own message key, its own delivery.

        Sent side by side; if one department's system is down the others still get theirs,
        and the retry (this activity failing) re-sends only what was not delivered.
        """
        results = await asyncio.gather(
            *(self._send_section(section) for section in batch.sections), return_exceptions=True
        )
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            raise failed[0]

    async def _send_section(self, section: DepartmentSection) -> None:
        key = f"{section.inspection_id}:section:{section.department}"
        context = {
            "department": section.department,
            "inspection_id": section.inspection_id,
            "enterprise_id": section.enterprise.id,
            "enterprise_name": section.enterprise.name,
            "inspector_id": section.inspector_id,
            "visited_at": town_time(section.visited_at),
            "items": len(section.items),
            "hazards": section.hazards,
            "critical": section.critical,
        }
        payload = {
            "message_id": key,
            "department": section.department,
            "kind": "inspection_section",
            "text": render("inspection_section", context),
            "section": section.model_dump(mode="json"),
        }
        url = await self._url("department", section.department)
        await self._deliver(key, "department", section.department, section.inspection_id,
                            "inspection_section", payload, url)  # fmt: skip

    async def _url(self, channel: str, recipient: str) -> str | None:
        if channel == "inspector":
            return self._bot_url
        if channel != "department":
            return None  # enterprises and the center read their inbox (the table)
        async with self._sessions() as session:
            row = await session.get(DepartmentRow, recipient)
        return (row.endpoint if row and row.endpoint else None) or self._department_url

    async def _deliver(
        self,
        key: str,
        channel: str,
        recipient: str,
        ref_id: str,
        kind: str,
        payload: dict[str, Any],
        url: str | None,
    ) -> None:
        await deliver_once(
            self._sessions,
            self._gateway,
            key,
            channel,
            recipient,
            ref_id[:64],
            kind,
            payload,
            url,
        )

    # ---- projection ----------------------------------------------------------------
    @activity.defn(name=ACT_PROJECT_INSPECTION)
    async def project_inspection(self, batch: InspectionProjection) -> None:
        s = batch.summary
        row = {
            **s.model_dump(exclude={"waiting_for"}),
            "waiting_for": s.waiting_for[:200],
            "last_seq": batch.seq,
            "updated_at": datetime.now(UTC),
        }
        async with self._sessions() as session, session.begin():
            dialect = session.get_bind().dialect.name
            table = InspectionRecord.__table__  # type: ignore[attr-defined]
            await session.execute(newest_wins_upsert(dialect, table, "inspection_id", row), row)
            if not batch.findings:
                return
            findings = [
                {
                    "inspection_id": s.inspection_id,
                    "enterprise_id": s.enterprise_id,
                    "grid_id": s.grid_id,
                    "department": f.item.department,
                    "item_code": f.item.code,
                    "outcome": f.outcome or "pass",
                    "answer": f.answer,
                    "severity": f.severity,
                    "source": f.source,
                    "note": f.note,
                    "evidence": [e.model_dump(mode="json") for e in f.evidence],
                    "inspector_id": f.by.id if f.by and f.source == "inspector" else None,
                    "recorded_at": f.at,
                    "rectification_id": f.rectification_id,
                }
                for f in batch.findings
            ]
            statement = upsert_insert(dialect)(InspectionFinding).values(findings)
            await session.execute(
                statement.on_conflict_do_update(
                    index_elements=["inspection_id", "item_code"],
                    set_={"rectification_id": statement.excluded.rectification_id},
                )
            )

    @activity.defn(name=ACT_PROJECT_RECTIFICATION)
    async def project_rectification(self, batch: RectificationProjection) -> None:
        s = batch.summary
        hours = (s.closed_at - s.found_at).total_seconds() / 3600 if s.closed_at else None
        row = {
            **s.model_dump(exclude={"waiting_for"}),
            "waiting_for": s.waiting_for[:200],
            "hours_to_close": hours,
            "last_seq": batch.seq,
            "updated_at": datetime.now(UTC),
        }
        async with self._sessions() as session, session.begin():
            dialect = session.get_bind().dialect.name
            table = HazardRecord.__table__  # type: ignore[attr-defined]
            await session.execute(newest_wins_upsert(dialect, table, "rectification_id", row), row)
