"""Production start-up refuses weak secrets and open metrics, naming the setting at fault.

Settings are built from the environment exactly as a process would read them
(``GRIDPLUS_*`` variables), so a test here fails the way a misconfigured deployment would.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from settings import Settings

# Fixed random values (``openssl rand``), so no run can draw a placeholder word by chance.
STRONG_BOT = "9f2c7e1a4b8d3f6e0c5a2b7d9e1f4a8c3b6d0e2f5a7c9b1d4e6f8a0c2e4b6d8f"
STRONG_TOKEN = "Qz8vK3mW7pL2nR5xJ9cF4hY6bN1gD0sA8uE3wZ7kM2q"
STRONG_METRICS = "hV4rN8yC2mX6qB0zK5wJ9pF3gL7dS1aU4eR8tY2nM6c"
STRONG_PEPPER = "Tn5bW9xE2kR7mQ4vH8cJ3pZ6yF1dL0gS5aU9eK2wN7r"


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """A production environment that passes every check; tests spoil one variable."""
    for name, value in {
        "GRIDPLUS_ENVIRONMENT": "production",
        "GRIDPLUS_DATABASE_URL": "postgresql+asyncpg://gridplus@db/gridplus",
        "GRIDPLUS_BOT_SECRET": STRONG_BOT,
        "GRIDPLUS_API_TOKEN_SECRET": STRONG_TOKEN,
        "GRIDPLUS_METRICS_TOKEN": STRONG_METRICS,
        "GRIDPLUS_DEVICE_KEY_PEPPER": STRONG_PEPPER,
        "GRIDPLUS_TEMPORAL_API_KEY": "a-temporal-cloud-api-key",
    }.items():
        monkeypatch.setenv(name, value)
    yield monkeypatch


def refusal(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> str:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as error:
        Settings(_env_file=None)
    return str(error.value)


def test_strong_distinct_secrets_start(production: pytest.MonkeyPatch) -> None:
    settings = Settings(_env_file=None)
    assert settings.environment == "production"
    assert settings.api_token_secret.get_secret_value() == STRONG_TOKEN


@pytest.mark.parametrize(
    "value",
    [
        "",
        "a",
        "changeme",
        "x" * 40,  # one repeated character
        "ab" * 20,  # too few distinct characters
        "CHANGEME-please-0123456789abcdefghijklmnop",
        "DEV-ONLY-token-secret-0123456789abcdefghijk",
        "Dev_Only_Token_Secret_0123456789abcdefghijk",
        "my-super-Secret-value-0123456789abcdefghijk",
        "Password0123456789abcdefghijklmnopqrstuvwxyz",
        "example-0123456789abcdefghijklmnopqrstuvwxyz",
        "TEST-0123456789abcdefghijklmnopqrstuvwxyz",
        "0123456789abcdefghijklmnopqrstu",  # 31 bytes
    ],
)
@pytest.mark.parametrize("name", ["GRIDPLUS_API_TOKEN_SECRET", "GRIDPLUS_BOT_SECRET"])
def test_weak_secrets_are_refused_naming_the_setting(
    production: pytest.MonkeyPatch, name: str, value: str
) -> None:
    assert name in refusal(production, name, value)


def test_the_bot_secret_must_differ_from_the_token_secret(production: pytest.MonkeyPatch) -> None:
    message = refusal(production, "GRIDPLUS_BOT_SECRET", STRONG_TOKEN)
    assert "GRIDPLUS_BOT_SECRET and GRIDPLUS_API_TOKEN_SECRET must differ" in message


def test_a_weak_or_shared_metrics_token_is_refused(production: pytest.MonkeyPatch) -> None:
    assert "GRIDPLUS_METRICS_TOKEN" in refusal(production, "GRIDPLUS_METRICS_TOKEN", "metrics")
    shared = refusal(production, "GRIDPLUS_METRICS_TOKEN", STRONG_BOT)
    assert "GRIDPLUS_BOT_SECRET and GRIDPLUS_METRICS_TOKEN must differ" in shared


def test_open_metrics_are_refused_in_production(production: pytest.MonkeyPatch) -> None:
    production.delenv("GRIDPLUS_METRICS_TOKEN")
    with pytest.raises(ValidationError, match="GRIDPLUS_METRICS_TOKEN must be set"):
        Settings(_env_file=None)
    production.setenv("GRIDPLUS_API_METRICS_ENABLED", "false")
    assert Settings(_env_file=None).metrics_token is None


@pytest.mark.parametrize("address", ["0.0.0.0:9464", "[::]:9464", "10.0.0.7:9464", "w1:9464"])
def test_worker_metrics_stay_on_loopback_unless_the_network_is_private(
    production: pytest.MonkeyPatch, address: str
) -> None:
    assert "GRIDPLUS_WORKER_METRICS_ADDRESS" in refusal(
        production, "GRIDPLUS_WORKER_METRICS_ADDRESS", address
    )
    production.setenv("GRIDPLUS_WORKER_METRICS_PRIVATE_NETWORK", "true")
    assert Settings(_env_file=None).worker_metrics_address == address


@pytest.mark.parametrize("address", ["127.0.0.1:9464", "[::1]:9464", "localhost:9464", ""])
def test_loopback_or_no_worker_metrics_start(production: pytest.MonkeyPatch, address: str) -> None:
    production.setenv("GRIDPLUS_WORKER_METRICS_ADDRESS", address)
    assert Settings(_env_file=None).worker_metrics_address == address


def test_temporal_needs_mtls_or_an_api_key_in_production(production: pytest.MonkeyPatch) -> None:
    production.delenv("GRIDPLUS_TEMPORAL_API_KEY")
    with pytest.raises(ValidationError, match="GRIDPLUS_TEMPORAL_API_KEY or GRIDPLUS_TEMPORAL_TLS"):
        Settings(_env_file=None)
    production.setenv("GRIDPLUS_TEMPORAL_TLS_CERT", "/etc/gridplus/temporal.pem")
    with pytest.raises(ValidationError, match="go together"):
        Settings(_env_file=None)
    production.setenv("GRIDPLUS_TEMPORAL_TLS_KEY", "/etc/gridplus/temporal.key")
    assert Settings(_env_file=None).temporal_tls_key == "/etc/gridplus/temporal.key"


def test_dev_keeps_its_placeholders() -> None:
    """``make run`` works with no secret set at all."""
    settings = Settings(_env_file=None)
    assert settings.environment == "dev"
    assert settings.bot_secret.get_secret_value().startswith("dev-only-")


@pytest.mark.parametrize("value", ["dev-only-device-key-pepper", "short", "x" * 40])
def test_a_placeholder_or_weak_device_key_pepper_is_refused(
    production: pytest.MonkeyPatch, value: str
) -> None:
    """Device keys are stored as HMAC-SHA256 under the pepper: a known one would let a
    leaked ``device`` table be checked against guessed keys offline."""
    assert "GRIDPLUS_DEVICE_KEY_PEPPER" in refusal(production, "GRIDPLUS_DEVICE_KEY_PEPPER", value)
