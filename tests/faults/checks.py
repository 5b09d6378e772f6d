"""What must hold after any fault, written as lists of problems rather than first-failure asserts.

A fault test checks everything and reports every broken promise at once: a duplicated
message must not hide a hole in a timeline. The promises (README, ``activities/cases/notify.py``,
``activities/cases/projection.py``, ``activities/stewards/dispatch.py``):

* every case ends ``closed``, exactly once (one run, one result);
* the projection holds every timeline entry of the workflow, seq 1..n, none twice, written
  in timeline order, and the case row says closed at the last seq;
* no steward is over capacity, and once the cases are closed nobody holds a reservation;
* every message the timeline implies was delivered, each exactly once;
* in order per recipient (``activities.messaging.delivery``): each steward and each department gets
  its messages in the order they were queued in the outbox (their ``notification``
  positions), whichever case queued them. Within one case that is the timeline's order for
  each recipient; across recipients a case's messages may arrive in any order (a refused
  message to the steward does not hold back the department's, and the other way round).
"""

from __future__ import annotations

from collections import Counter, defaultdict

from sqlalchemy import select
from sqlmodel import col
from temporalio.client import Client

from constants import case_workflow_id
from schemas.cases.tables import CaseEvent, CaseRecord
from schemas.cases.views import CaseResult, CaseView
from schemas.platform.tables import Notification
from schemas.stewards.tables import Reservation, Steward
from services.platform.db import SessionFactory, utc
from tools.fake_gateway import FakeGateway, Message

# timeline entry kind -> (message kind, recipient field in the entry's data)
IMPLIED_MESSAGES = {
    "dispatched": ("new_task", "steward"),
    "accept_timeout": ("reassigned", "steward"),
    "resolve_overdue": ("reassigned", "steward"),
    "escalated": ("new_case", "department"),
    "supervisor_urge": ("urge", "department"),
    "department_head_escalation": ("head_escalation", "department"),
}


async def final_views(client: Client, case_ids: list[str]) -> dict[str, CaseView]:
    """The workflows' own timelines (a closed workflow still answers its query)."""
    views = {}
    for case_id in case_ids:
        handle = client.get_workflow_handle(case_workflow_id(case_id))
        views[case_id] = await handle.query("view", result_type=CaseView)
    return views


def result_problems(case_ids: list[str], results: dict[str, CaseResult]) -> list[str]:
    problems = [f"{c}: no result" for c in case_ids if c not in results]
    for case_id, result in results.items():
        if result.status != "closed":
            problems.append(f"{case_id}: ended {result.status}, not closed")
    return problems


async def projection_problems(sessions: SessionFactory, views: dict[str, CaseView]) -> list[str]:
    problems = []
    async with sessions() as session:
        for case_id, view in views.items():
            rows = (
                await session.execute(
                    select(col(CaseEvent.seq), col(CaseEvent.kind), col(CaseEvent.status))
                    .where(col(CaseEvent.case_id) == case_id)
                    .order_by(col(CaseEvent.id))
                )
            ).all()
            projected = [(r.seq, r.kind, r.status) for r in rows]
            expected = [(e.seq, e.kind, e.status) for e in view.timeline]
            if projected != expected:
                seqs = [s for s, _, _ in projected]
                problems.append(
                    f"{case_id}: projected seqs {seqs} (kinds {[k for _, k, _ in projected]}) "
                    f"!= timeline 1..{len(expected)} ({[k for _, k, _ in expected]})"
                )
            record = await session.get(CaseRecord, case_id)
            if record is None:
                problems.append(f"{case_id}: no case_record row")
            elif (record.status, record.last_seq) != ("closed", len(view.timeline)):
                problems.append(
                    f"{case_id}: case_record {record.status} at seq {record.last_seq}, "
                    f"workflow closed at seq {len(view.timeline)}"
                )
            elif record.closed_at is None:
                problems.append(f"{case_id}: case_record closed without closed_at")
    return problems


async def steward_problems(sessions: SessionFactory, *, all_closed: bool) -> list[str]:
    """Capacity never exceeded, counters equal to open reservations, none left at the end."""
    problems = []
    async with sessions() as session:
        stewards = (await session.execute(select(Steward))).scalars().all()
        held = Counter(
            (
                await session.execute(
                    select(col(Reservation.steward_id)).where(col(Reservation.active).is_(True))
                )
            )
            .scalars()
            .all()
        )
    for steward in stewards:
        if steward.active_tasks > steward.capacity:
            problems.append(f"{steward.id}: {steward.active_tasks} tasks > {steward.capacity}")
        if steward.active_tasks != held[steward.id]:
            problems.append(
                f"{steward.id}: active_tasks {steward.active_tasks} but "
                f"{held[steward.id]} open reservations"
            )
        if all_closed and (steward.active_tasks or held[steward.id]):
            problems.append(f"{steward.id}: still holds {held[steward.id]} reservation(s)")
    return problems


def implied_message_ids(view: CaseView) -> set[str]:
    """Messages the timeline says were queued: ``case:seq:kind:recipient``, as notify keys them."""
    ids = set()
    last_steward = None
    for entry in view.timeline:
        implied = IMPLIED_MESSAGES.get(entry.kind)
        if entry.kind == "deadline_warning":
            if entry.data.get("steward"):
                implied = ("reminder", "steward")
            elif entry.data.get("department"):
                implied = ("warning", "department")
        if implied is not None:
            kind, field = implied
            ids.add(f"{view.case_id}:{entry.seq}:{kind}:{entry.data[field]}")
        if entry.kind == "dispatched":
            last_steward = entry.data["steward"]
        if entry.kind == "escalated":  # the department took it: the steward's task ended there
            last_steward = None
        if entry.kind == "closed" and last_steward:  # whoever held the task at the close
            ids.add(f"{view.case_id}:{entry.seq}:case_closed:{last_steward}")
    return ids


def duplicate_problems(gateway: FakeGateway) -> list[str]:
    counts = Counter(m["message_id"] for m in gateway.messages)
    problems = []
    for message_id, count in counts.items():
        if count > 1:
            problems.append(f"message {message_id} delivered {count} times")
    return problems


async def notifications(sessions: SessionFactory, case_ids: list[str]) -> list[Notification]:
    """The outbox rows of these cases, in outbox order."""
    async with sessions() as session:
        result = await session.execute(
            select(Notification)
            .where(col(Notification.case_id).in_(case_ids))
            .order_by(col(Notification.position))
        )
        return list(result.scalars().all())


def delivery_problems(
    rows: list[Notification], gateway: FakeGateway, views: dict[str, CaseView]
) -> list[str]:
    """None lost (implied by the timelines, or recorded as queued), none refused."""
    delivered = {m["message_id"] for m in gateway.messages}
    problems = []
    for view in views.values():
        for missing in sorted(implied_message_ids(view) - delivered):
            problems.append(f"message {missing} never delivered")
    for row in rows:
        if row.delivered_at is None or "rejected" in row.body:
            problems.append(f"notification {row.key} not delivered: {row.body.get('rejected')}")
        elif row.key not in delivered:
            problems.append(f"notification {row.key} marked delivered, never arrived")
    recorded = {row.key for row in rows}
    problems += [f"message {m} arrived but was never recorded" for m in delivered - recorded]
    if gateway.refused:
        problems.append(f"gateway refused requests: {gateway.refused[:5]}")
    return problems


def sequence_of(message: Message) -> tuple[str, int]:
    case_id, seq, _kind, _recipient = str(message["message_id"]).split(":", 3)
    return case_id, int(seq)


def recipient_of(message: Message) -> str:
    """Who a message is for: ``steward S`` (bot gateway) or ``department D``."""
    if message.get("steward_id"):
        return f"steward {message['steward_id']}"
    return f"department {message.get('department')}"


def order_problems(gateway: FakeGateway) -> list[str]:
    """Per case and recipient, messages arrive in the order they were queued (seq order)."""
    arrivals: dict[tuple[str, str], list[int]] = defaultdict(list)
    for message in gateway.messages:
        case_id, seq = sequence_of(message)
        arrivals[(case_id, recipient_of(message))].append(seq)
    return [
        f"{case_id}: messages to {recipient} arrived out of order, seqs {seqs}"
        for (case_id, recipient), seqs in arrivals.items()
        if seqs != sorted(seqs)
    ]


def cross_case_inversions(gateway: FakeGateway, rows: list[Notification]) -> dict[str, int]:
    """Per recipient (steward or department), pairs of messages of different cases that
    arrived in the opposite order of their places in the outbox: the order they were queued,
    as the database numbered them when each case handed its message over. Must be none."""
    positions = {row.key: row.position for row in rows}
    inversions: Counter[str] = Counter()
    per_recipient: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for message in gateway.messages:
        position = positions.get(str(message["message_id"]))
        if position is not None:
            per_recipient[recipient_of(message)].append((sequence_of(message)[0], position))
    for recipient, seen in per_recipient.items():
        for i, (case_a, at_a) in enumerate(seen):
            for case_b, at_b in seen[i + 1 :]:
                if case_a != case_b and at_b < at_a:
                    inversions[recipient] += 1
    return dict(inversions)


def queue_lags(rows: list[Notification], views: dict[str, CaseView]) -> dict[str, float]:
    """Seconds from the timeline entry that queued each message to its row in the outbox.

    Small while a gateway is down: a case hands every message over at once, even when an
    older one (of the case or of another) cannot be delivered yet.
    """
    at = {(v.case_id, e.seq): e.at for v in views.values() for e in v.timeline}
    lags = {}
    for row in rows:
        case_id, seq, _kind, _recipient = row.key.split(":", 3)
        queued = at.get((case_id, int(seq)))
        stored = utc(row.created_at)
        if queued is not None and stored is not None:
            lags[row.key] = (stored - queued).total_seconds()
    return lags


def fifo_problems(gateway: FakeGateway, rows: list[Notification]) -> list[str]:
    inversions = cross_case_inversions(gateway, rows)
    return [
        f"{recipient}: {count} pair(s) of messages of different cases arrived out of queue order"
        for recipient, count in sorted(inversions.items())
    ]


async def closure_problems(
    client: Client,
    sessions: SessionFactory,
    gateway: FakeGateway,
    case_ids: list[str],
    results: dict[str, CaseResult],
) -> tuple[list[str], dict[str, CaseView]]:
    """Every promise of the module docstring, for cases that should all be closed now."""
    problems = result_problems(case_ids, results)
    views = await final_views(client, case_ids)
    problems += await projection_problems(sessions, views)
    problems += await steward_problems(sessions, all_closed=True)
    problems += duplicate_problems(gateway)
    rows = await notifications(sessions, case_ids)
    problems += delivery_problems(rows, gateway, views)
    problems += order_problems(gateway)
    problems += fifo_problems(gateway, rows)
    return problems, views


def report(title: str, problems: list[str]) -> str:
    shown = "\n".join(f"  - {p}" for p in problems[:40])
    more = f"\n  ... and {len(problems) - 40} more" if len(problems) > 40 else ""
    return f"{title}: {len(problems)} problem(s)\n{shown}{more}"
