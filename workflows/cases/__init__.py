"""``CaseWorkflow``: the loop (``workflow``), its actions, its patched behaviours
(``loop``), its plumbing (``base``) and its state and rules (``state``)."""
