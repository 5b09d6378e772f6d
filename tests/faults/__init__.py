"""Crash and fault tests on real processes (issue 7, item 2); run by ``make faults``."""
