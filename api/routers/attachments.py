"""Attachments: upload photos and videos, get a short-lived link, download through it
(``/files/{id}/{variant}?exp=..&sig=..``).

Thin: ``services.attachments.library`` holds the rules. The upload body is streamed (not
read by ``api.body_limit``, which lets this one path through: the multipart receiver
enforces the per-file, per-form and per-kind limits itself while the bytes arrive). A
download link carries no token (chat apps' image viewers send none): the link is the
permission, minted only for a caller who may read the case the attachment belongs to.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from api.deps import State, TemporalClient, require
from api.errors import problem
from schemas.attachments.api import AttachmentLink, Purpose, StoredAttachment, UploadAnswer
from schemas.cases.api import Problem
from schemas.platform.common import Actor
from services.attachments.library import principal_key
from services.attachments.policy import UploadRefused
from services.attachments.signing import LinkRefused, Variant
from services.cases import access as case_access
from services.cases import operations as cases
from services.cases import queries as case_queries

Uploader = Annotated[
    Actor, require("steward", "supervisor", "department", "citizen", "inspector", "enterprise")
]
Reader = Annotated[Actor, require("steward", "supervisor", "department", "citizen", "inspector")]

AttachmentIdPath = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="an attachment id")]

UPLOAD_PATH = "/attachments"
router = APIRouter(prefix=UPLOAD_PATH, tags=["attachments"])
# Signed links: no bearer token (the link is the permission), so a prefix of their own.
files = APIRouter(prefix="/files", tags=["attachments"])

UPLOAD_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": Problem, "description": "a malformed multipart body"},
    401: {"model": Problem, "description": "no valid token (or, for the gateway, signature)"},
    403: {"model": Problem, "description": "a role that does not upload"},
    413: {"model": Problem, "description": "a file, the number of files or the body too large"},
    415: {"model": Problem, "description": "not multipart, or a file of a kind not allowed"},
    422: {"model": Problem, "description": "a file that is not what it claims (truncated...)"},
}


@router.post("", status_code=201, response_model=UploadAnswer, responses=UPLOAD_ERRORS)
async def upload(
    request: Request,
    state: State,
    principal: Uploader,
    purpose: Annotated[Purpose, Query()] = "report",
) -> JSONResponse:
    """A ``multipart/form-data`` form whose files are in the field ``files``: stored all or
    none; the answer's ids go into a report's or a result's evidence."""
    return await store_upload(request, state, principal, purpose)


async def store_upload(
    request: Request, state: State, uploader: Actor, purpose: str
) -> JSONResponse:
    """The streamed upload and its answer (shared with the gateway's ``/bot/attachments``);
    a form that trickles in slower than ``upload_timeout_seconds`` is a 408, nothing kept."""
    limit = state.settings.upload_timeout_seconds
    try:
        async with asyncio.timeout(limit):
            rows = await state.attachments.upload(
                request.stream(),
                request.headers.get("content-type"),
                request.headers.get("content-length"),
                uploader,
                purpose,
            )
    except TimeoutError:
        return problem(408, "timeout", f"the upload was not received within {limit:g} s")
    except UploadRefused as refused:
        message = refused.message
        if refused.limit is not None and str(refused.limit) not in message:
            message = f"{message} (limit {refused.limit})"
        return problem(refused.status, refused.code, message, ["body.files"])
    answer = UploadAnswer(items=[StoredAttachment.model_validate(r.model_dump()) for r in rows])
    return JSONResponse(answer.model_dump(mode="json"), status_code=201)


LINK_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": Problem, "description": "no valid token"},
    403: {"model": Problem, "description": "you may not read this attachment's case"},
    404: {"model": Problem, "description": "no such attachment"},
}


@router.get("/{attachment_id}", response_model=AttachmentLink, responses=LINK_ERRORS)
async def link(
    attachment_id: AttachmentIdPath,
    state: State,
    client: TemporalClient,
    principal: Reader,
    variant: Variant = Variant.THUMB,
) -> AttachmentLink:
    """A link valid for ``attachments_url_ttl`` seconds to the variant the caller may have:
    the center the original (with EXIF), everyone else the stripped copy or thumbnail.
    Only for the uploader (before it is filed) and those who may read its case."""
    row = (await state.attachments.rows([attachment_id])).get(attachment_id)
    if row is None:
        raise HTTPException(404, "no such attachment")
    if not await _may_read(state, client, principal, row.uploaded_by, row.owner_kind, row.owner_id):
        raise HTTPException(403, "you may not read this attachment's case")
    url = state.attachments.link(attachment_id, principal.role, variant)
    chosen = url.split("?", 1)[0].rsplit("/", 1)[-1]
    return AttachmentLink(
        id=attachment_id,
        variant=chosen,
        url=url,
        expires_in=state.attachments.ttl_seconds,
    )


async def _may_read(
    state: State,
    client: TemporalClient,
    principal: Actor,
    uploaded_by: str,
    owner_kind: str | None,
    owner_id: str | None,
) -> bool:
    if principal.role == "supervisor" or uploaded_by == principal_key(principal):
        return True
    if owner_kind != "case" or owner_id is None:
        return False
    async with state.sessions() as session:
        view, _ = await cases.case_view(
            client, owner_id, lambda: case_queries.projected_case(session, owner_id)
        )
    return case_access.may_read(principal, view)


@files.get(
    "/{attachment_id}/{variant}",
    responses={
        200: {"description": "the file", "content": {"image/jpeg": {}, "image/png": {}}},
        403: {"model": Problem, "description": "a forged or altered link"},
        404: {"model": Problem, "description": "no such attachment or variant"},
        410: {"model": Problem, "description": "the link expired: ask for a new one"},
    },
)
async def download(
    attachment_id: AttachmentIdPath,
    variant: Variant,
    state: State,
    exp: Annotated[str, Query(pattern=r"^[0-9]{1,12}$")],
    sig: Annotated[str, Query(pattern=r"^[A-Za-z0-9_-]{1,100}$")],
) -> StreamingResponse:
    """The bytes a signed link opens (403 forged or altered, 410 expired: ask again)."""
    try:
        served = await state.attachments.read(attachment_id, variant.value, exp, sig)
    except LinkRefused as refused:
        raise HTTPException(refused.status, refused.message) from refused
    if served is None:
        raise HTTPException(404, "no such attachment variant")
    return StreamingResponse(
        served.chunks,
        media_type=served.media_type,
        headers={
            "Content-Disposition": f'inline; filename="{served.filename}"',
            "Cache-Control": "private, max-age=60",
            "X-Content-Type-Options": "nosniff",
        },
    )
