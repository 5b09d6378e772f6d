"""Deterministic workflow code only: no I/O, no clock, no randomness (see DESIGN)."""

from workflows.case import CaseWorkflow

WORKFLOWS = (CaseWorkflow,)

__all__ = ["WORKFLOWS", "CaseWorkflow"]
