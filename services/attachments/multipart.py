"""Stream a ``multipart/form-data`` request body into checked, stored attachments.

Why not ``await request.form()``: Starlette spools every file part to a temporary file
*before* the route runs, with no size or count limit for files, so an 11 MB photo or a
tenth picture would be fully received before it could be refused. Here the body is fed,
chunk by chunk as it arrives, to ``python-multipart``'s push parser (the parser FastAPI
itself uses); each file part goes straight into an ``UploadSink``, so limits apply while
the bytes arrive and the tenth file part is refused at its headers. Files are stored only
once every part was accepted: a refusal anywhere stores nothing.

Text fields (at most ``MAX_FIELDS``, ``MAX_FIELD_BYTES`` each) come back beside the files,
for a route that wants a caption or a location in the same form.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart.multipart import MultipartParser, parse_options_header

from services.attachments.policy import UploadPolicy, UploadRefused
from services.attachments.receive import AttachmentMeta, PreparedUpload, UploadSink
from services.attachments.storage import Storage

MAX_FIELDS = 20
MAX_FIELD_BYTES = 4096
MAX_HEADER_BYTES = 8192


@dataclass
class ReceivedForm:
    """The stored files of a form (in form order) and its text fields."""

    files: list[AttachmentMeta] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)


def _bad_form(message: str) -> UploadRefused:
    return UploadRefused(400, "bad_multipart", message)


def boundary_of(content_type: str | None) -> bytes:
    """The multipart boundary of a ``Content-Type`` header, or a 415 saying what is needed."""
    kind, options = parse_options_header(content_type or "")
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise UploadRefused(
            415, "not_multipart", "the body must be multipart/form-data with a boundary"
        )
    return boundary


def largest_form(policy: UploadPolicy) -> int:
    """The most bytes an acceptable form can have: every file at its kind's limit, plus
    part headers and text fields."""
    largest_file = max(policy.max_bytes(kind) for kind in policy.allowed)
    overhead = MAX_FIELDS * (MAX_FIELD_BYTES + MAX_HEADER_BYTES)
    return policy.max_files * (largest_file + MAX_HEADER_BYTES) + overhead


def check_declared_length(content_length: str | None, policy: UploadPolicy) -> None:
    """413 at once for a body that says it is larger than any acceptable form."""
    if content_length is None or not content_length.strip().isdigit():
        return  # chunked, or nonsense the server will refuse itself: limits apply as it streams
    limit = largest_form(policy)
    if int(content_length) > limit:
        raise UploadRefused(
            413,
            "request_too_large",
            f"the request declares {int(content_length)} bytes; a form of at most "
            f"{policy.max_files} files may have at most {limit}",
            limit=limit,
        )


class _Events:
    """Collects the parser's callbacks; drained after every ``write`` (bounded by a chunk).
    Part data is queued as views into the chunk (no copy: a body's bytes are copied once,
    into the spool file)."""

    def __init__(self) -> None:
        self.queue: list[tuple[str, bytes | memoryview]] = []
        self._name = bytearray()
        self._value = bytearray()

    def callbacks(self) -> dict[str, object]:
        def data(kind: str):  # type: ignore[no-untyped-def]
            def on(buffer: bytes, start: int, end: int) -> None:
                # a view, not a copy: drained before the parser sees the next chunk
                self.queue.append((kind, memoryview(buffer)[start:end]))

            return on

        def mark(kind: str):  # type: ignore[no-untyped-def]
            def on() -> None:
                self.queue.append((kind, b""))

            return on

        return {
            "on_part_begin": mark("begin"),
            "on_header_field": data("hname"),
            "on_header_value": data("hvalue"),
            "on_header_end": mark("hend"),
            "on_headers_finished": mark("headers"),
            "on_part_data": data("data"),
            "on_part_end": mark("end"),
        }


async def receive_multipart(
    body: AsyncIterable[bytes],
    content_type: str | None,
    *,
    policy: UploadPolicy,
    storage: Storage,
    file_field: str = "files",
    tmp_root: Path | None = None,
    content_length: str | None = None,
    before_store: Callable[[dict[str, str]], None] | None = None,
) -> ReceivedForm:
    """Check every file part of ``body`` and store them all, or raise ``UploadRefused``
    (413/415/422/400) having stored nothing. A declared ``content_length`` larger than any
    acceptable form is refused before a byte is read.

    ``before_store`` sees the text fields once the whole form is in and before anything is
    stored: a web form checks its CSRF token there (raising stores nothing). A file part
    with an empty file name is what a browser sends for a file input left empty: skipped."""
    check_declared_length(content_length, policy)
    events = _Events()
    parser = MultipartParser(boundary_of(content_type), events.callbacks())  # type: ignore[arg-type]
    form = ReceivedForm()
    prepared: list[PreparedUpload] = []
    sink: UploadSink | None = None
    text: bytearray | None = None
    headers: dict[bytes, bytes] = {}
    current_field = ""
    name, value, header_bytes = bytearray(), bytearray(), 0
    files = 0
    try:
        async for chunk in body:
            parser.write(chunk)
            for kind, data in events.queue:
                if kind == "begin":
                    headers, header_bytes = {}, 0
                elif kind in ("hname", "hvalue"):
                    header_bytes += len(data)
                    if header_bytes > MAX_HEADER_BYTES:
                        raise _bad_form(f"part headers longer than {MAX_HEADER_BYTES} bytes")
                    (name if kind == "hname" else value).extend(data)
                elif kind == "hend":
                    headers[bytes(name).lower()] = bytes(value)
                    name, value = bytearray(), bytearray()
                elif kind == "headers":
                    disposition = headers.get(b"content-disposition", b"")
                    _, options = parse_options_header(disposition)
                    field_name = options.get(b"name", b"").decode("utf-8", "replace")
                    if b"filename" in options and not options[b"filename"]:
                        pass  # an empty file input: neither a file nor a text field
                    elif b"filename" in options:
                        if field_name != file_field:
                            raise _bad_form(f"files go in the field {file_field!r}")
                        files += 1
                        if files > policy.max_files:
                            raise policy.too_many()
                        sink = UploadSink(
                            policy,
                            filename=options[b"filename"].decode("utf-8", "replace"),
                            content_type=headers.get(b"content-type", b"").decode("latin-1"),
                            tmp_root=tmp_root,
                        )
                    else:
                        if len(form.fields) >= MAX_FIELDS:
                            raise _bad_form(f"at most {MAX_FIELDS} text fields")
                        text = bytearray()
                        form.fields[field_name] = ""
                        current_field = field_name
                elif kind == "data":
                    if sink is not None:
                        await sink.write(data)
                    elif text is not None:
                        text.extend(data)
                        if len(text) > MAX_FIELD_BYTES:
                            raise _bad_form(f"a text field may be at most {MAX_FIELD_BYTES} bytes")
                elif kind == "end":
                    if sink is not None:
                        current, sink = sink, None
                        prepared.append(await current.finish())
                    elif text is not None:
                        form.fields[current_field] = text.decode("utf-8", "replace")
                        text = None
            events.queue.clear()
        parser.finalize()
        if sink is not None or text is not None:
            raise _bad_form("the body ended inside a part")
        if before_store is not None:
            before_store(form.fields)
        for upload in prepared:
            form.files.append(await upload.commit(storage))
        return form
    except BaseException:
        if sink is not None:
            sink.discard()
        for upload in prepared:
            upload.discard()
        raise
