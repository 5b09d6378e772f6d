"""Runtime settings, read from ``GRIDPLUS_*`` environment variables (or a ``.env`` file).

Defaults are the embedded mode (`make run`): a local Temporal dev server and a SQLite file.
In production the placeholders are refused at start-up, so a forgotten secret fails fast
instead of signing bot callbacks with a value published in this repository.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from constants import TASK_QUEUE

PLACEHOLDER_PREFIX = "dev-only-"

# A sustained rate (requests per second, > 0) and a burst (requests at once, >= 1).
Rate = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Burst = Annotated[int, Field(ge=1)]


class Settings(BaseSettings):
    """Everything that differs between a laptop and a town's production cluster."""

    model_config = SettingsConfigDict(env_prefix="GRIDPLUS_", env_file=".env", extra="ignore")

    environment: Literal["dev", "production"] = "dev"

    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    temporal_tls: bool = False
    temporal_tls_cert: str | None = None
    temporal_tls_key: str | None = None
    temporal_api_key: SecretStr | None = None
    temporal_ui_url: str = "http://localhost:8233"
    task_queue: str = TASK_QUEUE
    worker_max_cached_workflows: int = 2000
    # "off": no sandbox, the default (fast; worker.runner_for says why it is safe here).
    # "shared": sandboxed, workflow modules imported once per worker.
    # "isolated": sandboxed, workflow modules re-imported for every run, so the sandbox's
    # restrictions apply inside them; the test suite runs this way.
    workflow_sandbox: Literal["off", "shared", "isolated"] = "off"

    database_url: str = "sqlite+aiosqlite:///./.data/gridplus.db"

    bot_gateway_url: str | None = None
    bot_secret: SecretStr = SecretStr(PLACEHOLDER_PREFIX + "bot-secret")
    department_gateway_url: str | None = None
    api_token_secret: SecretStr = SecretStr(PLACEHOLDER_PREFIX + "token-secret")
    public_base_url: str = "http://localhost:8000"

    # Token-bucket limits per client and door (``api/rate_limit.py``).
    rate_limit_enabled: bool = True
    # A camera sends a few detections a second at most, and a backlog after an outage comes
    # in bursts: 10/s with 50 at once lets a 500-detection burst over ten minutes (and a 5/s
    # stream for as long as it lasts) through, while 1000 requests in a second get 429s.
    device_rate_per_second: Rate = 10.0
    device_burst: Burst = 50
    # Open311 is for citizen apps and public dashboards: a page of reads at once, a few a second.
    open311_rate_per_second: Rate = 5.0
    open311_burst: Burst = 30
    # ``POST /cases``: a person reports a handful of cases an hour; a supervisor keying in a
    # paper backlog a few a second at most.
    case_report_rate_per_second: Rate = 2.0
    case_report_burst: Burst = 30
    # ``GET /cases/{id}`` (a Temporal query while the case runs) and its timeline: a steward's
    # app refreshing a case, a citizen following theirs; 60 at once lets a screen of cases load.
    case_read_rate_per_second: Rate = 5.0
    case_read_burst: Burst = 60
    # ``POST /enterprises/{id}/records`` and ``/observations``: an enterprise logs a few
    # operations a day, a warehouse camera a few a minute; a day's backlog fits the burst.
    enterprise_record_rate_per_second: Rate = 2.0
    enterprise_record_burst: Burst = 50
    # The chat-bot gateway relays every steward's button presses from one address: 4,000
    # stewards pressing at once after a town-wide alert should queue briefly, not fail.
    bot_rate_per_second: Rate = 50.0
    bot_burst: Burst = 500
    # Every other write (supervisor and department actions, inspections, rounds, proof, the
    # roster import): people acting by hand, or a department system syncing a backlog.
    write_rate_per_second: Rate = 5.0
    write_burst: Burst = 60
    # Buckets remembered per API process; the least recently used go first (then start full).
    rate_limit_max_keys: Annotated[int, Field(ge=1)] = 100_000

    # Every request body is capped before any route or token check (``api/body_limit.py``):
    # 64 KiB holds a case report with 20 evidence links several times over; the roster import
    # has its own larger cap there. A body not complete within the timeout gets 408: a stalled
    # or trickling upload must not hold the connection (a 64 KiB body takes 0.1 s on 3G).
    max_body_bytes: Annotated[int, Field(ge=1024, le=64 * 1024 * 1024)] = 64 * 1024
    body_timeout_seconds: Annotated[float, Field(gt=0, le=600, allow_inf_nan=False)] = 30.0

    # Device reports of the same camera, type and place (or sensor and type) less than this
    # apart join one case (``services/intake_merge.py``). ``last_at`` is refreshed every 30 s,
    # so the window is at least a minute; at most a day (reports older than that are refused).
    # Seconds (``600``) or ISO 8601 (``PT10M``).
    intake_merge_window: Annotated[
        timedelta, Field(ge=timedelta(minutes=1), le=timedelta(days=1))
    ] = timedelta(minutes=10)

    @field_validator("intake_merge_window", mode="before")
    @classmethod
    def _seconds(cls, value: object) -> object:
        """``600`` in the environment means seconds, as it would in a JSON number."""
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        return value

    @model_validator(mode="after")
    def _no_placeholders_in_production(self) -> Settings:
        if self.environment == "production":
            for name in ("bot_secret", "api_token_secret"):
                value: SecretStr = getattr(self, name)
                if value.get_secret_value().startswith(PLACEHOLDER_PREFIX):
                    raise ValueError(f"GRIDPLUS_{name.upper()} must be set in production")
            if self.database_url.startswith("sqlite"):
                raise ValueError("GRIDPLUS_DATABASE_URL must point at PostgreSQL in production")
        return self


@lru_cache
def get_settings() -> Settings:
    """One settings object per process."""
    return Settings()
