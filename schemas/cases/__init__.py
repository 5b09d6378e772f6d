"""Cases: the inputs, updates, queries and results of ``CaseWorkflow`` (``workflow``), the
requests of the activities it calls (``dispatch``), the HTTP bodies (``api``), the
case-type catalog and its per-town tuning (``catalog``, ``catalog_tuning``), and the
database tables of the registries and the case projection (``tables``).
"""
