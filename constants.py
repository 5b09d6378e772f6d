"""Names shared by the API, the worker and the workflows.

Kept in one module so that a task queue, a workflow-id scheme or a search attribute key
is spelled once: a typo between the API that starts a workflow and the worker that runs it
would otherwise silently strand cases on a queue nobody polls.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

TASK_QUEUE = "gridplus-cases"

CASE_WORKFLOW_ID = "case-{case_id}"


def case_workflow_id(case_id: str) -> str:
    """Workflow id of a case: one workflow per case id, so a retried create finds it."""
    return CASE_WORKFLOW_ID.format(case_id=case_id)


# Typed search attributes, planned to fit the dev server's per-namespace limits
# (10 Keyword, 3 Int, 3 Datetime, 3 Bool).
SA_KIND = SearchAttributeKey.for_keyword("GpKind")
SA_CASE_TYPE = SearchAttributeKey.for_keyword("GpCaseType")
SA_STATUS = SearchAttributeKey.for_keyword("GpStatus")
SA_GRID = SearchAttributeKey.for_keyword("GpGrid")
SA_MICRO_GRID = SearchAttributeKey.for_keyword("GpMicroGrid")
SA_DEPARTMENT = SearchAttributeKey.for_keyword("GpDepartment")
SA_STEWARD = SearchAttributeKey.for_keyword("GpSteward")
SA_SOURCE = SearchAttributeKey.for_keyword("GpSource")
SA_PRIORITY = SearchAttributeKey.for_int("GpPriority")
SA_REWORK = SearchAttributeKey.for_int("GpRework")
SA_DEADLINE = SearchAttributeKey.for_datetime("GpDeadline")
SA_OVERDUE = SearchAttributeKey.for_bool("GpOverdue")

SEARCH_ATTRIBUTES = (
    SA_KIND,
    SA_CASE_TYPE,
    SA_STATUS,
    SA_GRID,
    SA_MICRO_GRID,
    SA_DEPARTMENT,
    SA_STEWARD,
    SA_SOURCE,
    SA_PRIORITY,
    SA_REWORK,
    SA_DEADLINE,
    SA_OVERDUE,
)

# Activity names: workflows refer to activities by name so that workflows/ never imports
# the database or HTTP libraries the activities need.
ACT_PROJECT = "project_case_events"
ACT_RESERVE_STEWARD = "reserve_nearest_steward"
ACT_RELEASE_STEWARD = "release_steward"
ACT_NOTIFY_STEWARD = "notify_steward"
ACT_NOTIFY_DEPARTMENT = "notify_department"
