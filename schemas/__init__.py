"""Every pydantic model, SQLModel table and data file of gridplus, by domain.

Each domain is a package, mirroring ``services/``, ``activities/`` and ``workflows/``:

* ``attachments/``: uploads (api, tables).
* ``cases/``: cases (api, catalog, catalog_tuning, dispatch, satisfaction, satisfaction_tables,
  suspension, tables, workflow).
* ``inspections/``: joint inspections, rectification and rounds (activity, api, campaign,
  checklists, rectification, tables, workflow).
* ``intake/``: cameras, sensors and Open311 (devices, open311, tables).
* ``platform/``: what every domain shares (accounts, common, coordinates, tables: grids,
  departments, the outbox; tokens, updates).
* ``stewards/``: stewards and chat (bot, industries, tables).
* ``supervision/``: supervision and evaluation (evaluation).
* ``worktime/``: working time: office hours, holidays, working-hour arithmetic (arith, models,
  policy, render, sources, tables).
* ``tables``: registers every domain's tables on ``SQLModel.metadata`` (Alembic, the tests).
* ``data/``: the catalog, the checklists and the intake map, validated when loaded.

Modules import each other by full path (``from schemas.cases.workflow import ...``);
the package ``__init__`` files import nothing, so no import cycle goes through them.
Temporal payloads carry no module path: moving a model between modules changes no
history.
"""
