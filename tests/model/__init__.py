"""Executable models of the workflows' rules, kept apart from the workflows' own code.

The stateful tests (``tests/test_model_*.py``) drive the real service and compare every
answer and every timeline with these models, so the two check each other.
"""
