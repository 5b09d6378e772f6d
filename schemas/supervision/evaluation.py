"""Response models of the evaluation (综合评价), the closed loop's last step.

The definitions travel with every report (``EvaluationReport.definitions``) so that a
number on a supervisor's screen can always be traced to the rule that produced it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

GroupBy = Literal["grid", "department", "steward", "case_type"]

StageName = Literal[
    "dispatch_to_accept",
    "accept_to_resolve",
    "escalate_to_report",
    "resolve_to_verify",
    "file_to_close",
]

STAGE_NAMES: tuple[StageName, ...] = (
    "dispatch_to_accept",
    "accept_to_resolve",
    "escalate_to_report",
    "resolve_to_verify",
    "file_to_close",
)

STAGE_LABELS: dict[StageName, tuple[str, str]] = {
    "dispatch_to_accept": ("派遣→接单", "dispatch → accept"),
    "accept_to_resolve": ("接单→办结", "accept → resolved"),
    "escalate_to_report": ("转办→部门反馈", "escalated → department report"),
    "resolve_to_verify": ("反馈→核查", "resolved → verified"),
    "file_to_close": ("立案→结案", "filed → closed"),
}


class StageStats(BaseModel):
    """How long one stage took over the cases that went through it."""

    count: int = Field(description="cases that completed this stage in the period")
    mean_seconds: float | None = None
    p90_seconds: float | None = Field(default=None, description="nearest-rank 90th percentile")


class EvaluationRow(BaseModel):
    """One group (a grid, a department, a steward or a case type) over the period."""

    key: str
    label: str = ""
    cases: int = Field(description="cases reported in the period")
    closed: int
    cancelled: int
    open: int
    overdue_open: int = Field(description="open cases flagged overdue right now")
    on_time: int = Field(description="closed cases with no missed deadline")
    reworked: int = Field(description="cases with at least one failed verification")
    checked: int = Field(description="cases verified (passed or failed) at least once")
    closure_rate: float | None = Field(description="closed / (cases - cancelled)")
    on_time_rate: float | None = Field(description="on_time / closed")
    rework_rate: float | None = Field(description="reworked / checked")
    stages: dict[StageName, StageStats]
    # As the standard counts (issue 15): limits and durations in working time, suspension out.
    due: int = Field(default=0, description="closed cases and open ones past a limit (应结案)")
    on_time_closure_rate: float | None = Field(
        default=None, description="on_time / due (按期结案率); suspended time never counts"
    )
    suspended: int = Field(default=0, description="cases suspended (缓办) at least once")
    suspended_seconds: float = Field(default=0, description="wall-clock time spent suspended")
    working_stages: dict[StageName, StageStats] = Field(
        default_factory=dict,
        description="the stages in working time of the office acting in each, suspension out",
    )
    rated: int = Field(default=0, description="reporters' ratings (回访) of these cases")
    mean_rating: float | None = Field(default=None, description="mean rating, 1-5")
    satisfaction_rate: float | None = Field(default=None, description="satisfied / rated")


class EvaluationReport(BaseModel):
    """Answer of ``GET /stats/evaluation``."""

    group_by: GroupBy
    period_from: datetime
    period_to: datetime
    generated_at: datetime
    definitions: dict[str, str]
    total: EvaluationRow
    rows: list[EvaluationRow]
