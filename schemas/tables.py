"""Every table of gridplus, registered on ``SQLModel.metadata`` by importing this module.

Each domain keeps its tables in its own package; Alembic (``migrations/env.py``) and the
test schema reset (``tests/conftest.py``) import this one module so that none is left out,
and ``tests/test_table_registry.py`` checks ``TABLES`` against the migrated database. A new
table is added to ``TABLES``.
"""

from __future__ import annotations

from sqlmodel import SQLModel

from schemas.attachments.tables import Attachment
from schemas.cases.satisfaction_tables import Satisfaction
from schemas.cases.tables import CaseEvent, CaseRecord
from schemas.inspections.tables import (
    Enterprise,
    EnterpriseRecord,
    HazardRecord,
    InspectionBooking,
    InspectionFinding,
    InspectionRecord,
    Inspector,
)
from schemas.intake.tables import Detection, Device, IntakeMerge, Open311Request
from schemas.platform.accounts import WebAccount, WebLoginFailure, WebSession
from schemas.platform.tables import DepartmentRow, Grid, Notification
from schemas.platform.tokens import TokenRevocation
from schemas.stewards.tables import BotRequest, Reservation, Steward
from schemas.worktime.tables import NationalCalendarYear, TeamRoster

TABLES: tuple[type[SQLModel], ...] = (
    # platform: what every domain shares
    Grid,
    DepartmentRow,
    Notification,
    TokenRevocation,
    WebAccount,
    WebSession,
    WebLoginFailure,
    # cases
    CaseRecord,
    CaseEvent,
    Satisfaction,
    Attachment,
    # stewards and chat
    Steward,
    Reservation,
    BotRequest,
    # intake
    Device,
    Detection,
    IntakeMerge,
    Open311Request,
    # inspections, rectification and rounds
    Enterprise,
    Inspector,
    InspectionBooking,
    InspectionRecord,
    InspectionFinding,
    HazardRecord,
    EnterpriseRecord,
    # working time
    NationalCalendarYear,
    TeamRoster,
)
