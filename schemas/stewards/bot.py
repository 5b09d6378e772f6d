"""What the chat-bot gateway sends back when a steward presses a button, and what it gets.

The gateway forwards a button press (with the token it got in our message) to
``POST /bot/callback``; we answer with a ``BotAnswer`` telling it what to show the steward.
A refused action is still a valid callback: the answer is polite (``too_late``...), never an
HTTP error, because the steward did nothing wrong by pressing an old button.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from schemas.cases.suspension import SuspensionReason
from schemas.cases.workflow import CaseStatus
from schemas.platform.common import URL_PATTERN, AwareDatetime, Identifier, Instant, Line, Text
from schemas.platform.coordinates import GeoInput

BotAction = Literal[
    "accept",
    "decline",
    "arrived",
    "resolved",
    "escalate",
    "verify_pass",
    "verify_fail",
    "suspend",
]
BotResult = Literal["accepted", "too_late", "already_done", "not_yours", "case_closed", "rejected"]

Note = Annotated[Text, Field(min_length=1, max_length=2000)]
AttachmentIdText = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
RequestId = Annotated[Line, Field(min_length=1, max_length=128)]

# Actions whose workflow update needs words from the steward (a result, a reason to escalate).
NOTE_REQUIRED: tuple[BotAction, ...] = ("resolved", "escalate", "suspend")


def printable_request_id(value: str) -> str:
    """A gateway's request id is stored and shown: printable, no surrounding spaces."""
    if not value.isprintable() or value.strip() != value:
        raise ValueError("request_id must be printable, without surrounding spaces")
    return value


class BotCallback(BaseModel):
    """One button press (or a reply with a note/photo/location), signed by the gateway.

    ``request_id`` is the gateway's own unique id: a retried delivery repeats it, and we
    answer a repeat from the ``bot_request`` table without acting twice. ``photo_url`` is
    kept as evidence of a ``resolved`` report or a steward's verification (``verify_pass``,
    ``verify_fail``, the buttons of a ``verify_request`` message) and ignored with other
    actions; ``location`` is kept with ``arrived``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: RequestId
    steward_id: Identifier
    case_id: Identifier
    attempt: Annotated[int, Field(ge=0, le=1_000_000)]
    action: BotAction
    token: Annotated[str, Field(min_length=8, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")]
    note: Annotated[Note | None, Field(validate_default=True)] = None
    photo_url: Annotated[str, Field(max_length=2048, pattern=URL_PATTERN)] | None = None
    # Photos the gateway uploaded for this steward (``POST /bot/attachments``), kept as
    # evidence like ``photo_url``; checked to be the steward's own before the update.
    attachment_ids: Annotated[list[AttachmentIdText], Field(max_length=9)] = []
    location: GeoInput | None = None
    # ``suspend`` (缓办): the reason code, and a planned resume instant or condition; the
    # same request as ``POST /departments/{code}/cases/{id}/suspension`` (``note`` is the
    # reason). The center decides on its pages or by the API.
    reason_code: SuspensionReason | None = None
    resume_on: Instant | None = None
    resume_condition: Annotated[Line, Field(min_length=1, max_length=300)] | None = None

    @model_validator(mode="after")
    def _suspension_says_why_and_when(self) -> BotCallback:
        if self.action == "suspend":
            if self.reason_code is None:
                raise ValueError("a reason_code is required with action 'suspend'")
            if self.resume_on is None and self.resume_condition is None:
                raise ValueError("give resume_on or resume_condition with action 'suspend'")
        return self

    @field_validator("note", mode="after")
    @classmethod
    def _note_when_needed(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Fail on ``note`` itself so the 422 names the field the gateway must fill.

        ``validate_default`` on the field makes this run when ``note`` is left out too.
        """
        action = info.data.get("action")
        if value is None and action in NOTE_REQUIRED:
            raise ValueError(f"a note is required with action {action!r}")
        return value

    @field_validator("request_id", mode="after")
    @classmethod
    def _printable(cls, value: str) -> str:
        return printable_request_id(value)


class BotAnswer(BaseModel):
    """What the gateway shows the steward; stored per ``request_id`` and replayed verbatim."""

    request_id: str
    result: BotResult
    code: str | None = Field(
        default=None, description="the workflow's reason when it refused the action"
    )
    message: str = Field(description="text for the steward, in their language")
    case_status: CaseStatus | None = None


ReportResult = Literal["filed", "confirm_type"]


class BotReport(BaseModel):
    """A steward's report from the chat (``POST /bot/report``), signed by the gateway.

    ``case_type`` is the catalog code the steward confirmed; without it the answer
    (``confirm_type``) suggests types from ``text`` (the steward's free words) for the
    steward to choose, and the gateway sends the report again with the choice. ``location``
    says its coordinate system (phones' map apps in China send ``gcj02``, Baidu ``bd09``).
    ``attachment_ids`` are photos the gateway uploaded (``POST /attachments``) with this
    steward's token.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: RequestId
    steward_id: Identifier
    case_type: Annotated[Line, Field(min_length=2, max_length=40)] | None = None
    text: Annotated[Text, Field(max_length=2000)] | None = None
    location: GeoInput
    description: Annotated[Text, Field(max_length=2000)] = ""
    address: Annotated[Line, Field(max_length=300)] | None = None
    attachment_ids: Annotated[list[AttachmentIdText], Field(max_length=9)] = []

    @field_validator("request_id", mode="after")
    @classmethod
    def _printable(cls, value: str) -> str:
        return printable_request_id(value)


class BotReportAnswer(BaseModel):
    """What the gateway shows the reporting steward; stored per ``request_id``."""

    request_id: str
    result: ReportResult
    case_id: str | None = Field(default=None, description="the filed case (result filed)")
    grid_id: str | None = None
    suggested_types: list[str] = Field(
        default=[], description="catalog codes to offer the steward (result confirm_type)"
    )
    message: str = Field(description="text for the steward, in their language")


class PresenceEvent(BaseModel):
    """What the gateway learns about a steward: check-in/out, busy, or a location ping.

    ``request_id`` is the gateway's unique id for this event: a repeat (a retry, or a
    captured request replayed) gets the stored answer and changes nothing. ``at`` is when it
    happened: a duty change older than the steward's last one is ignored
    (``services.stewards.presence``).
    """

    model_config = ConfigDict(extra="forbid")

    request_id: RequestId
    steward_id: Identifier
    kind: Literal["check_in", "check_out", "busy", "location"]
    at: AwareDatetime
    location: GeoInput | None = None

    @field_validator("request_id", mode="after")
    @classmethod
    def _printable(cls, value: str) -> str:
        return printable_request_id(value)


class PresenceAnswer(BaseModel):
    """The steward's state after the event; ``duty_applied``/``location_applied`` say
    whether this event changed it (False: an older event than the one already applied)."""

    request_id: str
    steward_id: str
    duty_state: str
    duty_applied: bool
    location_applied: bool
