"""Deterministic workflow code only: no I/O, no clock, no randomness (README: design notes).

The list of workflows is in ``workflows.registry`` (see its docstring for why not here).
"""
