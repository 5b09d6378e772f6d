"""Deterministic workflow code only: no I/O, no clock, no randomness (see DESIGN)."""

from workflows.campaign import InspectionCampaignWorkflow
from workflows.case import CaseWorkflow
from workflows.inspection import JointInspectionWorkflow
from workflows.rectification import RectificationWorkflow

WORKFLOWS = (
    CaseWorkflow,
    JointInspectionWorkflow,
    RectificationWorkflow,
    InspectionCampaignWorkflow,
)

__all__ = [
    "WORKFLOWS",
    "CaseWorkflow",
    "InspectionCampaignWorkflow",
    "JointInspectionWorkflow",
    "RectificationWorkflow",
]
