"""Crash and fault tests on real processes; run by ``make faults``."""
