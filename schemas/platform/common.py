"""Small value types shared by every workflow, activity and route.

Two of them guard every input at the edge (request bodies, query and path parameters, bot
and Open311 payloads), so that what passes validation can be stored and replayed anywhere:

* ``Instant``: an aware date-time written in the years 1970 to 2199, normalised to UTC.
  Unbounded years made ``9999-12-31`` plus a 90-day window, or ``0001-01-01+14:00`` turned
  into UTC, raise ``OverflowError`` (a 500); a non-UTC offset made SQLite, which stores the
  wall time as text, compare ``+08:00`` wall times with UTC ones. No case, record or report
  predates 1970, and a year of arithmetic either side of the range stays far inside what
  Python, SQLite, PostgreSQL and Temporal's timestamps can hold. The bound is on the year as
  written (so a schema pattern can state it exactly): its UTC value may be a day outside.
* ``Text`` (free text, may hold tab and line breaks) and ``Line`` (one line): no C0 control
  characters, NUL above all. PostgreSQL refuses NUL in ``text`` columns, so a case whose
  description held one could never be projected (its activity would retry forever).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

Role = Literal[
    "steward", "inspector", "department", "supervisor", "device", "citizen", "enterprise", "system"
]

CaseSource = Literal["steward", "camera", "sensor", "citizen", "supervisor", "open311"]

# Identifiers we mint or import: short, printable, safe in a workflow id and a URL.
ID_PATTERN = r"^[A-Za-z0-9_.:-]+$"
Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=ID_PATTERN)]
IdempotencyKey = Annotated[str, Field(min_length=8, max_length=128, pattern=ID_PATTERN)]

# ---- text --------------------------------------------------------------------------------
# C0 controls but tab, line feed and carriage return; and, for one line, those three too.
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f]*$"
LINE_PATTERN = r"^[^\x00-\x1f]*$"
_TEXT_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_LINE_FORBIDDEN = re.compile(r"[\x00-\x1f]")
# A URL we store and show: http(s), no white space and no control character.
URL_PATTERN = r"^https?://[^\s\x00-\x1f]+$"


def forbidden_character(value: str, multiline: bool = True) -> str | None:
    """The first control character ``value`` may not hold, as ``U+0000``; None if clean."""
    found = (_TEXT_FORBIDDEN if multiline else _LINE_FORBIDDEN).search(value)
    return f"U+{ord(found.group()):04X}" if found else None


class _NoControls:
    """Refuses control characters with a clear message, and says so in the JSON schema.

    A pattern in the schema tells clients and fuzzers the truth (Schemathesis then generates
    NUL only in negative tests); the check itself is a plain validator so that the error reads
    "control character U+0000 is not allowed" instead of quoting a regular expression.
    """

    def __init__(self, multiline: bool) -> None:
        self.multiline = multiline
        self.pattern = TEXT_PATTERN if multiline else LINE_PATTERN

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema.setdefault("pattern", self.pattern)
        return json_schema

    def _check(self, value: str) -> str:
        bad = forbidden_character(value, self.multiline)
        if bad is not None:
            raise ValueError(f"control character {bad} is not allowed")
        return value


Text = Annotated[str, _NoControls(multiline=True)]
Line = Annotated[str, _NoControls(multiline=False)]

# ---- instants ----------------------------------------------------------------------------
FIRST_YEAR, LAST_YEAR = 1970, 2199
# RFC 3339 date-times in those years, with a zone, written out in full (real month lengths and
# leap days included) so that the JSON schema states exactly what the validator accepts and a
# generator can draw valid values from the pattern alone.
_YEAR = r"(?:19[7-9][0-9]|2[01][0-9]{2})"
_MONTH_DAY = (
    r"(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])"
    r"|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)"
)
_LEAP_DAY = (
    r"(?:19(?:7[26]|8[048]|9[26])|20(?:[02468][048]|[13579][26])"
    r"|21(?:0[48]|[2468][048]|[13579][26]))-02-29"
)
_TIME = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?"
_OFFSET = r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
INSTANT_PATTERN = rf"^(?:{_YEAR}-{_MONTH_DAY}|{_LEAP_DAY})T{_TIME}{_OFFSET}$"
_INSTANT = re.compile(INSTANT_PATTERN)


def _written_as_date_time(value: object) -> object:
    """Only RFC 3339 text (or a ``datetime``): pydantic would also read ``0.5`` as 1970."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _INSTANT.match(value):
        raise ValueError(
            "timestamp must be an RFC 3339 date-time with its zone, in the years "
            f"{FIRST_YEAR} to {LAST_YEAR} (e.g. 2026-11-25T08:00:00+08:00)"
        )
    return value


def _instant(value: datetime) -> datetime:
    """Aware, written in the years 1970..2199, and returned in UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp must carry a time zone (e.g. 2026-11-25T08:00:00+08:00)")
    # the year as written, checked before converting: 0001-01-01+14:00 in UTC would overflow
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"timestamp must be in the years {FIRST_YEAR} to {LAST_YEAR}")
    return value.astimezone(UTC)


class _InstantSchema:
    """States ``Instant`` in its JSON schema exactly (``date-time`` alone allows 0001-9999)."""

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["pattern"] = INSTANT_PATTERN
        return json_schema


Instant = Annotated[
    datetime, BeforeValidator(_written_as_date_time), AfterValidator(_instant), _InstantSchema()
]
# The name the input models used before ``Instant`` was bounded; the same type.
AwareDatetime = Instant


class GeoPoint(BaseModel):
    """WGS-84 coordinates as a phone or a camera reports them."""

    model_config = ConfigDict(frozen=True)

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class Actor(BaseModel):
    """Who did something: the authenticated principal, never a value typed by the caller."""

    model_config = ConfigDict(frozen=True)

    role: Role
    id: Identifier


class HumanAction(BaseModel):
    """Common part of every human action of every domain (cases, inspections, rectification,
    suspension): who acts, and the key that makes a retried action act once."""

    model_config = ConfigDict(frozen=True)

    actor: Actor
    idempotency_key: IdempotencyKey


class Evidence(BaseModel):
    """A photo, a snapshot, a note or a sensor reading attached to a case."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["photo", "video", "snapshot", "note", "sensor", "document"]
    url: Annotated[str, Field(max_length=2048, pattern=URL_PATTERN)] | None = None
    # An upload of ours (``POST /attachments``): workflows carry the id, never bytes; the
    # API checks it exists and is the citer's (or the case's) before anything is sent.
    # Left out of dumps when unset: bodies without it fingerprint (``Idempotency-Key``) and
    # serialise exactly as before it existed.
    attachment_id: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")] | None = Field(
        default=None, exclude_if=lambda value: value is None
    )
    note: Annotated[Text, Field(max_length=2000)] | None = None


def town_time(value: datetime | None, offset_hours: int = 8) -> str:
    """A time as the town reads it (UTC+8 by default), to the minute, for details."""
    if value is None:
        return "-"
    return value.astimezone(timezone(timedelta(hours=offset_hours))).strftime("%Y-%m-%d %H:%M")
