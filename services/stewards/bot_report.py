"""A steward's report through the chat bot: from a signed event to a filed case.

The gateway posts ``BotReport`` to ``POST /bot/report`` on the steward's behalf, signed
like every callback (``bot.verify_signature``: HMAC over timestamp and raw body, the
timestamp within ``MAX_SKEW``); a repeated ``request_id`` gets its stored answer from
``bot_request`` and files nothing twice (the case id is derived from the request id too,
so even two racing copies start one workflow).

* No ``case_type``: the free text is matched against the catalog's names and the answer
  (``confirm_type``) offers the likeliest types; the gateway shows them as buttons and sends
  the report again, with the type the steward chose and a new ``request_id``.
* With a type: the point is converted to WGS-84 (``GeoInput``), the photos (attachment ids
  the gateway uploaded for this steward) are checked, and the case is filed as the steward,
  exactly as ``POST /cases`` would; the answer carries the case id and a message in the
  steward's language, and every later message about the case names it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from temporalio.client import Client

from schemas.cases.api import CreateCase
from schemas.cases.catalog import Catalog
from schemas.platform.common import Actor, Evidence
from schemas.stewards.bot import BotReport, BotReportAnswer
from schemas.stewards.tables import BotRequest, Steward
from services.attachments.library import AttachmentRejected, Library
from services.cases import filing
from services.cases import operations as cases
from services.platform.db import SessionFactory, upsert_insert
from services.platform.geo import GridIndex
from services.platform.messages import case_type_name, render_steward
from services.stewards.bot import CallbackRejected, idempotency_key
from services.temporal_gateway import WorkflowUnavailable

REPORT_ACTION = "report"
MAX_SUGGESTIONS = 3


def suggest_types(catalog: Catalog, text: str, limit: int = MAX_SUGGESTIONS) -> list[str]:
    """The catalog codes whose names share the most with ``text`` (Chinese characters of
    ``name_zh``, English words of ``name_en``), best first; ties in catalog order."""
    lowered = text.lower()
    words = set(lowered.replace(",", " ").replace(".", " ").split())
    scored = []
    for index, case_type in enumerate(catalog.case_types):
        zh = sum(1 for ch in set(case_type.name_zh) if ch in text)
        en = sum(2 for w in case_type.name_en.lower().split() if len(w) > 2 and w in words)
        if zh + en:
            scored.append((-(zh + en), index, case_type.code))
    return [code for _, _, code in sorted(scored)[:limit]]


@dataclass(frozen=True)
class ReportHandled:
    """The answer to a report event and whether it was replayed from ``bot_request``."""

    answer: BotReportAnswer
    replayed: bool


class ReportDesk:
    """Files reports sent through the bot; one per API process."""

    def __init__(
        self,
        client: Client,
        sessions: SessionFactory,
        catalog: Catalog,
        grids: GridIndex,
        attachments: Library,
        task_queue: str,
    ) -> None:
        self.client = client
        self.sessions = sessions
        self.catalog = catalog
        self.grids = grids
        self.attachments = attachments
        self.task_queue = task_queue

    async def handle(self, report: BotReport) -> ReportHandled:
        """Answer once per ``request_id``: replayed, or acted on and stored."""
        async with self.sessions() as session:
            row = await session.get(BotRequest, report.request_id)
            steward = await session.get(Steward, report.steward_id)
        if row is not None:
            if (row.steward_id, row.action) != (report.steward_id, REPORT_ACTION):
                raise CallbackRejected(409, "conflict", "request_id was already used for another")
            return ReportHandled(BotReportAnswer.model_validate(row.answer), replayed=True)
        if steward is None:
            raise CallbackRejected(403, "forbidden", "no such steward in the registry")
        answer = await self._act(report, steward.language)
        return ReportHandled(await self._store(report, answer), replayed=False)

    async def _act(self, report: BotReport, language: str) -> BotReportAnswer:
        if report.case_type is None:
            options = suggest_types(self.catalog, f"{report.text or ''} {report.description}")
            names = [case_type_name(code, language) for code in options]
            options_context: dict[str, object] = {"options": list(zip(options, names, strict=True))}
            return BotReportAnswer(
                request_id=report.request_id,
                result="confirm_type",
                suggested_types=options,
                message=render_steward("report_confirm_type", language, options_context),
            )
        reporter = Actor(role="steward", id=report.steward_id)
        request = CreateCase(
            case_type=report.case_type,
            location=report.location,
            description=report.description,
            address=report.address,
            evidence=[Evidence(kind="photo", attachment_id=i) for i in report.attachment_ids],
        )
        case_id = filing.new_case_id(reporter, idempotency_key(report.request_id))
        try:
            inp = filing.build_case_input(request, reporter, case_id, self.catalog, self.grids)
            await self.attachments.check(report.attachment_ids, reporter, case_id)
        except filing.IntakeError as error:
            fields = [f"body.{error.field}"]
            raise CallbackRejected(422, "invalid", error.message, fields) from error
        except AttachmentRejected as error:
            message = f"{error.message}: {', '.join(error.ids)}"
            raise CallbackRejected(422, "invalid", message, ["body.attachment_ids"]) from error
        try:
            await cases.start_case(self.client, inp, self.task_queue)
        except WorkflowUnavailable as error:
            raise CallbackRejected(503, "unavailable", f"case {error}; retry") from error
        await self.attachments.bind(report.attachment_ids, case_id)
        context: dict[str, object] = {
            "case_id": case_id,
            "case_type_name": case_type_name(report.case_type, language),
            "grid_id": inp.grid_id,
            "photos": len(report.attachment_ids),
        }
        return BotReportAnswer(
            request_id=report.request_id,
            result="filed",
            case_id=case_id,
            grid_id=inp.grid_id,
            message=render_steward("report_filed", language, context),
        )

    async def _store(self, report: BotReport, answer: BotReportAnswer) -> BotReportAnswer:
        """Insert unless a racing copy did first; the stored answer is the answer."""
        async with self.sessions() as session, session.begin():
            insert = upsert_insert(session.get_bind().dialect.name)
            await session.execute(
                insert(BotRequest)
                .values(
                    request_id=report.request_id,
                    steward_id=report.steward_id,
                    case_id=answer.case_id or "",
                    action=REPORT_ACTION,
                    received_at=datetime.now(UTC),
                    answer=answer.model_dump(mode="json"),
                )
                .on_conflict_do_nothing(index_elements=["request_id"])
            )
            row = await session.get(BotRequest, report.request_id)
        assert row is not None
        return BotReportAnswer.model_validate(row.answer)
