"""Deterministic workflow code only: no I/O, no clock, no randomness (see DESIGN).

The list of workflows is in ``workflows.registry`` (see its docstring for why not here).
"""
