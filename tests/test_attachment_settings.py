"""The attachment settings: production refuses a weak or shared link-signing secret
(``check_link_secret``, the API's start-up check), and the upload policy is read from
settings."""

from __future__ import annotations

import secrets

import pytest
from pydantic import SecretStr

from api.main import create_app
from services.attachments import UploadPolicy
from services.attachments.signing import check_link_secret
from settings import Settings


def production(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "environment": "production",
        "temporal_api_key": SecretStr(secrets.token_hex(32)),
        "bot_secret": SecretStr(secrets.token_hex(32)),
        "api_token_secret": SecretStr(secrets.token_hex(32)),
        "metrics_token": SecretStr(secrets.token_hex(32)),
        "database_url": "postgresql+asyncpg://gridplus@db/gridplus",
        "attachments_url_secret": SecretStr(secrets.token_hex(32)),
        "device_key_pepper": SecretStr(secrets.token_hex(32)),
    }
    values.update(overrides)
    return Settings.model_validate(values)


def test_production_accepts_a_strong_own_secret() -> None:
    check_link_secret(production())


def test_production_refuses_the_placeholder_link_secret() -> None:
    settings = production(attachments_url_secret=Settings().attachments_url_secret)
    with pytest.raises(ValueError, match="GRIDPLUS_ATTACHMENTS_URL_SECRET must be at least 32"):
        check_link_secret(settings)
    padded = SecretStr("dev-only-attachment-url-secret-" + secrets.token_hex(8))
    with pytest.raises(ValueError, match="looks like a placeholder"):
        check_link_secret(production(attachments_url_secret=padded))
    check_link_secret(Settings())  # the placeholder is fine in dev


def test_production_refuses_a_link_secret_shared_with_the_bot() -> None:
    shared = SecretStr(secrets.token_hex(32))
    with pytest.raises(ValueError, match="must differ"):
        check_link_secret(production(bot_secret=shared, attachments_url_secret=shared))


def test_the_upload_policy_comes_from_settings() -> None:
    settings = Settings(upload_max_files=4, upload_max_photo_bytes=2_000_000)
    policy = UploadPolicy.from_settings(settings)
    assert (policy.max_files, policy.max_photo_bytes) == (4, 2_000_000)
    assert policy.max_pixels == settings.upload_max_pixels == 50_000_000


def test_the_api_refuses_to_start_with_a_weak_link_secret() -> None:
    """Fail fast: ``create_app`` checks the link secret before anything serves a link."""
    weak = production(attachments_url_secret=Settings().attachments_url_secret)
    with pytest.raises(ValueError, match="GRIDPLUS_ATTACHMENTS_URL_SECRET"):
        create_app(weak)
    assert create_app(production()).title == "gridplus"  # a strong one starts
