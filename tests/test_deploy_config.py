"""The production stance ships as configuration: the files in deploy/
say what the README says, and the example environment starts only once filled in."""

from __future__ import annotations

from pathlib import Path

import pytest
from dotenv import dotenv_values
from pydantic import ValidationError

from settings import Settings, loopback_or_off

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
FILLED = {
    "GRIDPLUS_BOT_SECRET": "9f2c7e1a4b8d3f6e0c5a2b7d9e1f4a8c3b6d0e2f5a7c9b1d4e6f8a0c2e4b6d8f",
    "GRIDPLUS_API_TOKEN_SECRET": "Qz8vK3mW7pL2nR5xJ9cF4hY6bN1gD0sA8uE3wZ7kM2q",
    "GRIDPLUS_METRICS_TOKEN": "hV4rN8yC2mX6qB0zK5wJ9pF3gL7dS1aU4eR8tY2nM6c",
    "GRIDPLUS_DEVICE_KEY_PEPPER": "Tn5bW9xE2kR7mQ4vH8cJ3pZ6yF1dL0gS5aU9eK2wN7r",
}


def test_the_example_environment_refuses_to_start_until_its_secrets_are_filled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    example = DEPLOY / "gridplus.env.example"
    with pytest.raises(ValidationError, match="GRIDPLUS_BOT_SECRET must be at least 32 bytes"):
        Settings(_env_file=example)
    for name, value in FILLED.items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=example)
    assert settings.environment == "production"
    assert settings.temporal_tls_cert and settings.temporal_tls_key and settings.temporal_tls_ca
    assert settings.metrics_token is not None and settings.api_metrics_enabled
    assert loopback_or_off(settings.worker_metrics_address)


def test_the_web_ui_signs_in_with_oidc_and_cannot_write() -> None:
    docker = dotenv_values(DEPLOY / "temporal-ui.env")
    assert docker["TEMPORAL_AUTH_ENABLED"] == "true"
    assert docker["TEMPORAL_AUTH_TYPE"] == "oidc"
    assert docker["TEMPORAL_DISABLE_WRITE_ACTIONS"] == "true"
    assert docker["TEMPORAL_TLS_CERT"] and docker["TEMPORAL_TLS_KEY"]
    assert "TEMPORAL_AUTH_CLIENT_SECRET" not in docker  # from the secret store, not a file
    config = [line.split("#")[0].rstrip() for line in (DEPLOY / "temporal-ui.yaml").open()]
    assert "disableWriteActions: true" in config
    assert "auth:" in config and "  enabled: true" in config
    assert "      type: oidc" in config


def test_the_frontend_requires_client_certificates() -> None:
    config = [
        line.split("#")[0].rstrip() for line in (DEPLOY / "temporal-frontend-tls.yaml").open()
    ]
    assert config.count("        requireClientAuth: true") == 2  # frontend and internode
