"""Names shared by the API, the worker and the workflows.

Kept in one module so that a task queue, a workflow-id scheme or a search attribute key
is spelled once: a typo between the API that starts a workflow and the worker that runs it
would otherwise silently strand cases on a queue nobody polls.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

TASK_QUEUE = "gridplus-cases"

# Workflow type names, recorded in histories: the API starts workflows by these names and
# the workflow classes declare them, so neither side imports the other.
WF_CASE = "CaseWorkflow"
WF_INSPECTION = "JointInspectionWorkflow"
WF_RECTIFICATION = "RectificationWorkflow"
WF_CAMPAIGN = "InspectionCampaignWorkflow"

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
# Set only while a case is suspended (缓办, workflows.cases.suspension), and unset after.
SA_SUSPENDED = SearchAttributeKey.for_bool("GpSuspended")

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
    SA_SUSPENDED,
)

# Activity names: workflows refer to activities by name so that workflows/ never imports
# the database or HTTP libraries the activities need.
ACT_PROJECT = "project_case_events"
ACT_RESERVE_STEWARD = "reserve_nearest_steward"
ACT_RELEASE_STEWARD = "release_steward"
ACT_NOTIFY_STEWARD = "notify_steward"
ACT_NOTIFY_DEPARTMENT = "notify_department"
# The case outbox (``workflows.cases.base``, patch ``outbox-at-rest-v1``): enqueue steps, local
# activities that store a message and try to deliver it; the two above are the retried
# deliver steps for what a gateway refused.
ACT_ENQUEUE_STEWARD = "enqueue_steward_message"
ACT_ENQUEUE_DEPARTMENT = "enqueue_department_message"
# Working time (patch ``worktime-v1``): the national calendar slice a stage's deadline is
# computed with, a local activity whose answer stays in history.
ACT_CALENDAR_SLICE = "calendar_slice"

# ---- joint safety inspection ------------------------------------------------------------
INSPECTION_WORKFLOW_ID = "inspection-{inspection_id}"
RECTIFICATION_WORKFLOW_ID = "rectification-{rectification_id}"
CAMPAIGN_WORKFLOW_ID = "campaign-{campaign_id}"


def inspection_workflow_id(inspection_id: str) -> str:
    """Workflow id of a joint inspection: one workflow per inspection id."""
    return INSPECTION_WORKFLOW_ID.format(inspection_id=inspection_id)


def rectification_workflow_id(rectification_id: str) -> str:
    """Workflow id of one hazard's rectification (a child of its inspection)."""
    return RECTIFICATION_WORKFLOW_ID.format(rectification_id=rectification_id)


def campaign_workflow_id(campaign_id: str) -> str:
    """Workflow id of an inspection campaign started by hand (scheduled ones get theirs)."""
    return CAMPAIGN_WORKFLOW_ID.format(campaign_id=campaign_id)


ACT_RECORD_FINDINGS = "find_record_findings"
ACT_PREPARE_INSPECTION = "prepare_inspection"
ACT_BOOK_INSPECTOR = "book_inspector"
ACT_RELEASE_INSPECTOR = "release_inspector"
ACT_NOTIFY_PARTY = "notify_inspection_party"
ACT_SEND_SECTIONS = "send_department_sections"
ACT_PROJECT_INSPECTION = "project_inspection"
ACT_PROJECT_RECTIFICATION = "project_rectification"
ACT_PLAN_CAMPAIGN = "plan_campaign"
ACT_START_INSPECTIONS = "start_inspections"
