"""Plain-Python services behind the API and the activities, grouped by domain.

``cases``, ``stewards`` (registry, nearest-steward index, presence, the chat bot),
``intake`` (devices, merge of machine reports, Open311), ``inspections`` (inspections,
rectification, rounds, enterprise records) and ``supervision`` (board, evaluation) each
hold their own rules and reads; ``platform`` holds what every domain needs (database,
migrations, tokens, logs, metrics, messages, geography). ``temporal_gateway`` is the one
way into workflows: start once, update, query with a fallback to the projection. Nothing
here imports ``workflows``: workflows are named by their type names (``constants``) and
updates by ``schemas.platform.updates.Update``.
"""
