"""Every workflow the worker runs (and the replayer checks).

Kept out of ``workflows/__init__.py`` on purpose: the sandbox re-imports a workflow's package
for every run, and a package ``__init__`` that imports every workflow made each case
re-execute all of them.
"""

from workflows.cases.workflow import CaseWorkflow
from workflows.inspections.campaign import InspectionCampaignWorkflow
from workflows.inspections.inspection import JointInspectionWorkflow
from workflows.inspections.rectification import RectificationWorkflow

WORKFLOWS = (
    CaseWorkflow,
    JointInspectionWorkflow,
    RectificationWorkflow,
    InspectionCampaignWorkflow,
)
