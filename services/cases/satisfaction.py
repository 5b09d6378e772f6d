"""The reporter's satisfaction follow-up (回访): rate a closed case, maybe reopen it.

Rules, in the order a rating meets them: the case exists and is closed (409
``not_closed``); the caller is the one who reported it (the case's own input says who,
not the projection; ``NotTheReporter``, 403); the closing is at most ``followup.window``
old (409 ``window_closed``); each closing is rated once (409 ``already_rated``). A rating
under ``followup.satisfied_from`` is "not satisfied": where ``followup.reworks`` the case
type, the case is reopened as rework (``operations.reopen_case``, the supervisors' reopen),
with the reporter's words as its reason. Ratings feed the evaluation
(``services.supervision.evaluation``).

A citizen who reported through Open311 rates through a signed link instead
(``services.cases.rating_links``): the link, not the case's input, names who may rate, and
it is bound to one closing (``closing``: the seq of the ``closed`` entry; a link of an
earlier closing of a reopened case is refused, 409 ``link_stale``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from temporalio.client import Client

from schemas.cases.catalog import Catalog
from schemas.cases.satisfaction import SatisfactionAnswer, SatisfactionBody
from schemas.cases.satisfaction_tables import Satisfaction
from schemas.cases.tables import CaseRecord
from schemas.platform.common import Actor
from services.cases import operations as cases
from services.platform.db import SessionFactory, utc
from services.temporal_gateway import ActionRefused


class NotTheReporter(Exception):
    """Only the reporter rates a case."""


async def rate_case(
    client: Client,
    sessions: SessionFactory,
    catalog: Catalog,
    case_id: str,
    rater: Actor,
    body: SatisfactionBody,
    task_queue: str,
    now: datetime | None = None,
    closing: int | None = None,
) -> SatisfactionAnswer:
    """Record the rating and reopen when it says so (see the module docstring)."""
    now = now or datetime.now(UTC)
    async with sessions() as session:
        record = await session.get(CaseRecord, case_id)
    if record is None:
        raise cases.CaseNotFound(case_id)
    if record.status != "closed":
        raise ActionRefused("not_closed", "a case is rated once it is closed")
    if closing is None:
        reporter = (await cases.original_input(client, case_id)).reporter
        if reporter != rater:
            raise NotTheReporter("only the one who reported the case rates it")
    elif closing != record.last_seq:
        raise ActionRefused("link_stale", "this link rates an earlier closing of the case")
    followup = catalog.followup
    closed_at = utc(record.closed_at) or utc(record.updated_at) or now
    if now - closed_at > followup.window:
        raise ActionRefused(
            "window_closed", f"ratings are taken within {followup.window} of the closing"
        )
    satisfied = body.rating >= followup.satisfied_from
    reopen = not satisfied and followup.reworks(record.case_type)
    row = Satisfaction(
        case_id=case_id,
        closed_seq=record.last_seq,
        reporter=f"{rater.role}:{rater.id}",
        rating=body.rating,
        satisfied=satisfied,
        comment=body.comment,
        reopened=reopen,
        rated_at=now,
    )
    try:
        async with sessions() as session, session.begin():
            session.add(row)
    except IntegrityError as error:
        raise ActionRefused("already_rated", "this closing of the case was rated") from error
    if reopen:
        reason = f"the reporter is not satisfied ({body.rating}/5): {body.comment}".strip()
        await cases.reopen_case(client, sessions, case_id, rater, reason[:2000], task_queue)
    return SatisfactionAnswer(
        case_id=case_id, rating=body.rating, satisfied=satisfied, reopened=reopen
    )
