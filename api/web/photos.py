"""Photos sent with a case page's form (the department's result): a streamed multipart form.

The form posts ``multipart/form-data`` to the case page's action route. Its body is not
read by ``request.form()`` (Starlette would spool every file before any limit applied):
it goes through ``Library.upload_form``, the very receiver of ``POST /attachments``, with
the signed-in user as uploader, so the same kind, size, count and pixel limits refuse a
file while it arrives. The session's CSRF token is checked on the form's text fields
before anything is stored (a forged post stores nothing). The stored ids become the
body's ``evidence`` (``Evidence.attachment_id``), which ``perform`` checks and files under
the case exactly as for ``/departments/{code}/cases/{id}/result``.
"""

from __future__ import annotations

import asyncio

from fastapi import Request

from api.deps import State
from api.web import sessions
from schemas.platform.common import Evidence
from services.attachments.policy import UploadRefused

PHOTO_FIELD = "files"  # the receiver's file field (as POST /attachments)


def is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").lower().startswith("multipart/form-data")


async def receive(
    request: Request, state: State, principal: sessions.WebPrincipal, purpose: str
) -> tuple[dict[str, str], list[Evidence]]:
    """The form's text fields and its photos as evidence; ``UploadRefused`` (a limit, a
    kind, a damaged file, or a timeout as 408) or a 403 ``HTTPException`` (CSRF) stores
    nothing."""

    def csrf(fields: dict[str, str]) -> None:
        sessions.check_csrf(principal.csrf_token, fields.get(sessions.CSRF_FIELD))

    limit = state.settings.upload_timeout_seconds
    try:
        async with asyncio.timeout(limit):
            rows, fields = await state.attachments.upload_form(
                request.stream(),
                request.headers.get("content-type"),
                request.headers.get("content-length"),
                principal.actor,
                purpose,
                before_store=csrf,
            )
    except TimeoutError as error:
        raise UploadRefused(408, "timeout", f"not received within {limit:g} s") from error
    evidence = [
        Evidence(kind="video" if row.kind.startswith("video/") else "photo", attachment_id=row.id)
        for row in rows
    ]
    return fields, evidence
