"""Attachment ids cited by a report or an action: checked before the workflow sees them.

A workflow's validator cannot look anything up (no I/O in workflow code), so the check
that an id exists and may be cited by this caller on this case happens here, in the API,
before the update or the start is sent: a bad id is a 422 naming ``evidence``, and
nothing reaches history. After the workflow took it, the cited fresh uploads are filed
under the case (``bind``), which is what later grants the case's readers their links.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel

from schemas.platform.common import Actor, Evidence
from services.attachments.library import AttachmentRejected, Library


def cited_ids(evidence: Iterable[Evidence]) -> list[str]:
    """The attachment ids of an evidence list, in order, each once."""
    seen: dict[str, None] = {}
    for item in evidence:
        if item.attachment_id:
            seen[item.attachment_id] = None
    return list(seen)


def ids_of(body: BaseModel) -> list[str]:
    """The attachment ids a request body or an action cites (its ``evidence``)."""
    evidence = getattr(body, "evidence", None)
    return cited_ids(evidence) if isinstance(evidence, list) else []


async def check_cited(
    library: Library | None, body: BaseModel, citer: Actor, owner_id: str | None
) -> list[str]:
    """The ids ``body`` cites, once ``library`` agreed ``citer`` may cite them on
    ``owner_id``; ``AttachmentRejected`` otherwise (also for ids on a door that does not
    take attachments, ``library`` None: nothing unchecked goes through)."""
    ids = ids_of(body)
    if ids and library is None:
        raise AttachmentRejected("attachments cannot be cited here", ids)
    if ids and library is not None:
        await library.check(ids, citer, owner_id)
    return ids
