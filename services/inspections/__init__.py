"""Joint inspection, rectification and rounds: starts, actions, registries, reports."""
