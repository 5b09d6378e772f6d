"""All I/O of the workflows: projection, dispatch, notifications.

``build_activities`` wires the activity classes once per worker process, as in Temporal's
``hello_activity_method`` sample: clients (database sessions, HTTP) are built once and
shared by every activity call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from activities.cases.citizen_notice import CitizenNotices, RatingLinks
from activities.cases.notify import NotifyActivities
from activities.cases.projection import ProjectionActivities
from activities.cases.worktime import WorktimeActivities
from activities.inspections.booking import InspectionActivities
from activities.inspections.campaign import CampaignActivities
from activities.inspections.projection import InspectionRecordActivities
from activities.messaging.gateways import HttpGateway
from activities.stewards.dispatch import DispatchActivities
from schemas.cases.catalog import default_catalog
from services.platform.db import SessionFactory
from settings import Settings


def build_activities(
    session_factory: SessionFactory, http: httpx.AsyncClient, settings: Settings
) -> list[Callable[..., Any]]:
    notices = CitizenNotices(
        session_factory,
        HttpGateway(http, settings.bot_secret.get_secret_value()),
        settings.department_gateway_url,
        RatingLinks(
            settings.api_token_secret, settings.public_base_url, default_catalog().followup.window
        ),
    )
    projection = ProjectionActivities(session_factory, notices)
    worktime = WorktimeActivities(session_factory)
    dispatch = DispatchActivities(session_factory, worktime.answer)
    notify = NotifyActivities(
        session_factory,
        HttpGateway(http, settings.bot_secret.get_secret_value()),
        bot_secret=settings.bot_secret.get_secret_value(),
        bot_url=settings.bot_gateway_url,
        department_url=settings.department_gateway_url,
    )
    inspection = InspectionActivities(session_factory)
    campaign = CampaignActivities(session_factory)
    inspection_records = InspectionRecordActivities(
        session_factory,
        HttpGateway(http, settings.bot_secret.get_secret_value()),
        bot_url=settings.bot_gateway_url,
        department_url=settings.department_gateway_url,
    )
    return [
        projection.project_case_events,
        dispatch.reserve_nearest_steward,
        dispatch.release_steward,
        notify.enqueue_steward_message,
        notify.notify_steward,
        notify.enqueue_department_message,
        notify.notify_department,
        inspection.find_record_findings,
        inspection.prepare_inspection,
        inspection.book_inspector,
        inspection.release_inspector,
        campaign.plan_campaign,
        campaign.start_inspections,
        inspection_records.notify_inspection_party,
        inspection_records.send_department_sections,
        inspection_records.project_inspection,
        inspection_records.project_rectification,
        worktime.calendar_slice,
    ]
