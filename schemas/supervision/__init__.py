"""Supervision and evaluation: the evaluation report (综合评价) and its definitions
(``evaluation``).
"""
