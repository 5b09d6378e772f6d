"""Joint safety inspections, rectification and inspection rounds: the registries and the
checklists (``checklists``), the inspection workflow's models (``workflow``) and its
activities' (``activity``), ``RectificationWorkflow`` (``rectification``), rounds
(``campaign``), the HTTP bodies (``api``) and the tables (``tables``).
"""
