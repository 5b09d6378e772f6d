"""Supervision and evaluation: the board and the statistics, read from the projection."""
