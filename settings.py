"""Runtime settings, read from ``GRIDPLUS_*`` environment variables (or a ``.env`` file).

Defaults are the embedded mode (`make run`): a local Temporal dev server and a SQLite file.
In production (``GRIDPLUS_ENVIRONMENT=production``) start-up refuses what would leave a door
open, naming the setting: a secret that is short (< 32 bytes), placeholder-like or equal to
another one (an empty token secret would let anyone mint supervisor tokens), SQLite, an
open ``/metrics`` and a worker metrics endpoint reachable from other hosts. The README's
"Production stance" says why each matters.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from constants import TASK_QUEUE

PLACEHOLDER_PREFIX = "dev-only-"
MIN_SECRET_BYTES = 32
MIN_SECRET_DISTINCT = 8
# Words that mark a value someone typed as a stand-in (compared case-insensitively, with
# ``-``/``_``/spaces removed): a random 32-byte secret contains none of them by chance.
PLACEHOLDER_WORDS = (
    *("devonly", "changeme", "secret", "password", "passwd", "example", "test"),
    *("placeholder", "default", "sample", "dummy", "insecure", "todo"),
)

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
    # A private CA that signed the frontend's certificate (self-hosted), and the name on it.
    temporal_tls_ca: str | None = None
    temporal_tls_server_name: str | None = None
    temporal_api_key: SecretStr | None = None
    temporal_ui_url: str = "http://localhost:8233"
    task_queue: str = TASK_QUEUE
    # The worker's Prometheus endpoint (Temporal's runtime; it has no authentication).
    # Empty turns it off. Production refuses an address reachable from other hosts unless
    # ``worker_metrics_private_network`` says the network it is on is private.
    worker_metrics_address: str = "127.0.0.1:9464"
    worker_metrics_private_network: bool = False
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
    # Longest lifetime of an API token (``api.security``): longer ones are neither minted nor
    # accepted. Seconds (``7776000``) or ISO 8601 (``P90D``).
    token_max_ttl: Annotated[timedelta, Field(ge=timedelta(minutes=5), le=timedelta(days=366))] = (
        timedelta(days=90)
    )
    # How long an API process trusts its copy of the revocation list (``token_revocation``).
    token_revocation_cache_seconds: Annotated[float, Field(ge=0, le=300)] = 5.0
    # How long an API process reuses the center queue's bucket counts per (scope, filters);
    # 0 recounts on every load (``services.supervision.queue_cache``).
    queue_counts_cache_seconds: Annotated[float, Field(ge=0, le=60)] = 5.0
    # ``GET /metrics`` on the API: off, open (dev only), or behind ``Authorization: Bearer``.
    api_metrics_enabled: bool = True
    metrics_token: SecretStr | None = None

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

    # Case-type catalog tuning (``schemas/cases/catalog_tuning.py``): a JSON file overriding some
    # fields per case type, and a divisor for every deadline (a demo town's fast clock).
    catalog_override: Path | None = None
    catalog_time_scale: Annotated[float, Field(ge=1, le=1000, allow_inf_nan=False)] = 1.0
    # Limits count the acting office's working time (``schemas/worktime``, the national
    # holiday calendar and ``schemas/data/working_hours.json``); off: wall-clock limits.
    working_time: bool = True

    # Every request body is capped before any route or token check (``api/body_limit.py``):
    # 64 KiB holds a case report with 20 evidence links several times over; the roster import
    # has its own larger cap there. A body not complete within the timeout gets 408: a stalled
    # or trickling upload must not hold the connection (a 64 KiB body takes 0.1 s on 3G).
    max_body_bytes: Annotated[int, Field(ge=1024, le=64 * 1024 * 1024)] = 64 * 1024
    body_timeout_seconds: Annotated[float, Field(gt=0, le=600, allow_inf_nan=False)] = 30.0

    # Device reports of the same camera, type and place (or sensor and type) less than this
    # apart join one case (``services/intake/merge.py``). ``last_at`` is refreshed every 30 s,
    # so the window is at least a minute; at most a day (reports older than that are refused).
    # Seconds (``600``) or ISO 8601 (``PT10M``).
    intake_merge_window: Annotated[
        timedelta, Field(ge=timedelta(minutes=1), le=timedelta(days=1))
    ] = timedelta(minutes=10)

    # ---- camera-scale intake (issue 18; ``services/intake/device_keys.py``, ``coalesce.py``) --
    # Device keys are stored as HMAC-SHA256 under this pepper; production refuses a weak one.
    # Changing it invalidates every stored key (re-register or rotate the devices).
    device_key_pepper: SecretStr = SecretStr(PLACEHOLDER_PREFIX + "device-key-pepper")
    # How long an API process trusts a device it authenticated, and how many it remembers.
    device_auth_cache_seconds: Annotated[float, Field(ge=0, le=300)] = 10.0
    device_auth_cache_size: Annotated[int, Field(ge=1)] = 20_000
    # Later detections of an open scene are recorded and sent to the case as one update per
    # case at most this often; ``false`` sends every detection on its own (the old path).
    intake_coalesce: bool = True
    intake_coalesce_seconds: Annotated[float, Field(gt=0, le=60, allow_inf_nan=False)] = 5.0
    # A case's waiting detections are sent once there are this many, or once the oldest has
    # waited this long: a busy scene is one update per 50 detections, a quiet one per 10 s
    # (and none more often than ``intake_coalesce_seconds``). Each update is a workflow task
    # and a projection write, ~20 ms of the worker's and Temporal's CPU: at camera rates
    # these are the intake's largest cost after the HTTP door (bench/RESULTS.md).
    intake_coalesce_batch: Annotated[int, Field(ge=1, le=1000)] = 50
    intake_coalesce_max_wait_seconds: Annotated[float, Field(ge=0, le=600)] = 10.0
    # Back-pressure: device posts in progress in one API process beyond which a post gets
    # 503 + Retry-After at once (instead of queueing into a device's timeout). At 1,000/s and
    # ~20 ms each about 20 are in progress; 128 is a few hundred ms of queue at most.
    device_max_in_flight: Annotated[int, Field(ge=1)] = 128
    # ...and past this much queueing, in milliseconds (the event loop's sustained lag): a
    # post that would wait longer than this before its work even starts is refused at once,
    # so accepted posts keep a p99 near a device's budget (100 ms) instead of growing with
    # the backlog.
    device_max_queue_ms: Annotated[float, Field(gt=0, le=10_000, allow_inf_nan=False)] = 80.0
    # PostgreSQL connections of the device path's own pool (and as many again in a burst):
    # the writer, the two caches' readers and the scenes being opened hold one each.
    device_pool_size: Annotated[int, Field(ge=1, le=100)] = 6

    @field_validator("intake_merge_window", "token_max_ttl", mode="before")
    @classmethod
    def _seconds(cls, value: object) -> object:
        """``600`` in the environment means seconds, as it would in a JSON number."""
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        return value

    @model_validator(mode="after")
    def _production_stance(self) -> Settings:
        """Refuse at start-up what would leave a production deployment open (see README)."""
        if bool(self.temporal_tls_cert) != bool(self.temporal_tls_key):
            raise ValueError("GRIDPLUS_TEMPORAL_TLS_CERT and GRIDPLUS_TEMPORAL_TLS_KEY go together")
        if self.environment != "production":
            return self
        if self.temporal_api_key is None and not self.temporal_tls_cert:
            raise ValueError(
                "GRIDPLUS_TEMPORAL_API_KEY or GRIDPLUS_TEMPORAL_TLS_CERT/_KEY must be set in "
                "production: whoever reaches Temporal unauthenticated bypasses the API"
            )
        secrets = {"bot_secret": self.bot_secret, "api_token_secret": self.api_token_secret}
        secrets["device_key_pepper"] = self.device_key_pepper
        if self.metrics_token is not None:
            secrets["metrics_token"] = self.metrics_token
        for name, value in secrets.items():
            problem = weak_secret(value.get_secret_value())
            if problem:
                raise ValueError(f"{env_name(name)} {problem}")
        names = list(secrets)
        for i, first in enumerate(names):
            for second in names[i + 1 :]:
                if secrets[first].get_secret_value() == secrets[second].get_secret_value():
                    raise ValueError(
                        f"{env_name(first)} and {env_name(second)} must differ: one leaked "
                        "value must not open both doors"
                    )
        if self.database_url.startswith("sqlite"):
            raise ValueError("GRIDPLUS_DATABASE_URL must point at PostgreSQL in production")
        if self.api_metrics_enabled and self.metrics_token is None:
            raise ValueError(
                "GRIDPLUS_METRICS_TOKEN must be set in production (or GRIDPLUS_API_METRICS_ENABLED"
                "=false): /metrics would be open to anyone who reaches the API"
            )
        if not (
            self.worker_metrics_private_network or loopback_or_off(self.worker_metrics_address)
        ):
            raise ValueError(
                "GRIDPLUS_WORKER_METRICS_ADDRESS must be a loopback address in production "
                "(the worker's metrics endpoint has no authentication); on a private network "
                "set GRIDPLUS_WORKER_METRICS_PRIVATE_NETWORK=true"
            )
        return self

    # --- Attachments (issue 16; ``services/attachments``) ---------------------------------
    # Where blobs live: the filesystem under ``attachments_dir`` (``make run``) or an
    # S3-compatible bucket (MinIO, Alibaba OSS, AWS S3) in production.
    attachments_backend: Literal["filesystem", "s3"] = "filesystem"
    attachments_dir: Path = Path(".data/attachments")
    attachments_s3_bucket: str = "gridplus-attachments"
    attachments_s3_endpoint_url: str | None = None  # None: AWS; else MinIO / OSS endpoint
    attachments_s3_region: str = "us-east-1"
    attachments_s3_access_key_id: str | None = None
    attachments_s3_secret_access_key: SecretStr | None = None
    # Signs short-lived download links (HMAC over attachment id, variant and expiry). In
    # production it must be strong and its own: ``services.attachments.signing
    # .check_link_secret`` refuses a weak or shared one when the API starts.
    attachments_url_secret: SecretStr = SecretStr(PLACEHOLDER_PREFIX + "attachment-url-secret")
    attachments_url_ttl: Annotated[int, Field(ge=10, le=86_400)] = 300  # seconds
    # The chat apps' own limits: 9 pictures to a message; phones' photos are 2-8 MB, 10 MB
    # leaves room for 48-megapixel HEIC. Videos: a minute of 1080p is about 100 MB.
    upload_max_photo_bytes: Annotated[int, Field(ge=1024)] = 10 * 1024 * 1024
    upload_max_video_bytes: Annotated[int, Field(ge=1024)] = 100 * 1024 * 1024
    upload_max_files: Annotated[int, Field(ge=1, le=50)] = 9
    # Pillow's MAX_IMAGE_PIXELS, set deliberately: a 50-megapixel phone photo passes, a
    # decompression bomb (a few KB of PNG that decodes to gigabytes) does not.
    upload_max_pixels: Annotated[int, Field(ge=1_000_000, le=200_000_000)] = 50_000_000
    upload_thumbnail_px: Annotated[int, Field(ge=64, le=2048)] = 320
    # A decompression bomb: more pixels per stored byte than any photo or screenshot has.
    upload_max_pixels_per_byte: Annotated[int, Field(ge=10, le=100_000)] = 1000
    # A file whose name claims another kind than its bytes (PNG named .jpg) is a 415.
    upload_refuse_renamed: bool = True
    # A whole upload form must arrive within this (the body cap's 30 s does not apply to the
    # streamed upload routes): 9 photos of 10 MB over a slow 4G link take about 2 minutes.
    upload_timeout_seconds: Annotated[float, Field(gt=0, le=3600, allow_inf_nan=False)] = 600.0
    # Images decoded at once per process (each can take ~150 MB while decoded).
    upload_decode_concurrency: Annotated[int, Field(ge=1, le=64)] = 2

    # ---- web pages: sign-in, sessions, OIDC (``api/web``) ------------------------------
    # Signs the short-lived OIDC login cookie (state, nonce, PKCE verifier); the session
    # cookie itself is a random id looked up in the database, so sign-out really ends it.
    web_session_secret: SecretStr = SecretStr(PLACEHOLDER_PREFIX + "web-session-secret")
    web_session_hours: Annotated[float, Field(gt=0, le=24 * 14)] = 12.0
    # Lock an account after this many wrong passwords within the window (counted in the DB,
    # so every API process agrees); ``python -m api.web.accounts unlock NAME`` lifts it.
    web_lockout_failures: Annotated[int, Field(ge=1, le=100)] = 5
    web_lockout_window: Annotated[
        timedelta, Field(ge=timedelta(minutes=1), le=timedelta(days=1))
    ] = timedelta(minutes=15)
    # OIDC sign-in (the province's SSO): off while the issuer is empty.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_scopes: str = "openid profile"
    # Claims -> Actor: ``role_claim`` values map to our roles through ``role_map`` (JSON, e.g.
    # ``{"wgzx":"supervisor","bm":"department"}``); unknown values cannot sign in.
    oidc_role_claim: str = "role"
    oidc_role_map: dict[str, Literal["supervisor", "department"]] = {}
    oidc_department_claim: str = "department"
    oidc_grids_claim: str = "grids"
    oidc_username_claim: str = "preferred_username"

    @model_validator(mode="after")
    def _web_production_stance(self) -> Settings:
        """Production with OIDC on refuses a weak session secret (it signs the login cookie;
        password sessions are random ids in the database and need none) and a bare client."""
        if self.environment != "production" or not self.oidc_issuer:
            return self
        problem = weak_secret(self.web_session_secret.get_secret_value())
        if problem:
            raise ValueError(f"GRIDPLUS_WEB_SESSION_SECRET {problem}")
        for other in (self.bot_secret, self.api_token_secret):
            if other.get_secret_value() == self.web_session_secret.get_secret_value():
                raise ValueError("GRIDPLUS_WEB_SESSION_SECRET must differ from the other secrets")
        if not self.oidc_issuer.startswith("https://"):
            raise ValueError("GRIDPLUS_OIDC_ISSUER must be an https:// URL in production")
        if not self.oidc_client_id or self.oidc_client_secret is None:
            raise ValueError("GRIDPLUS_OIDC_CLIENT_ID and _CLIENT_SECRET must be set")
        # issued by the SSO, whose length we do not choose: only refuse a stand-in
        if self.oidc_client_secret.get_secret_value().startswith(PLACEHOLDER_PREFIX):
            raise ValueError("GRIDPLUS_OIDC_CLIENT_SECRET is a placeholder")
        return self


def env_name(field: str) -> str:
    """The environment variable of a settings field, as an operator would set it."""
    return f"GRIDPLUS_{field.upper()}"


def weak_secret(value: str) -> str | None:
    """Why ``value`` is not fit to be a production secret, or None when it is."""
    if len(value.encode()) < MIN_SECRET_BYTES:
        return f"must be at least {MIN_SECRET_BYTES} bytes (e.g. `openssl rand -hex 32`)"
    folded = "".join(ch for ch in value.lower() if ch not in "-_ .")
    for word in PLACEHOLDER_WORDS:
        if word in folded:
            return f"looks like a placeholder (contains {word!r}); generate a random one"
    if len(set(value)) < MIN_SECRET_DISTINCT:
        return f"has fewer than {MIN_SECRET_DISTINCT} distinct characters; generate a random one"
    return None


def loopback_or_off(address: str) -> bool:
    """True for an empty address (metrics off) or one only this host can reach."""
    if not address.strip():
        return True
    host = address.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@lru_cache
def get_settings() -> Settings:
    """One settings object per process."""
    return Settings()
