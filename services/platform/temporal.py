"""One way to connect to Temporal, with the pydantic data converter, for API and worker."""

from __future__ import annotations

from pathlib import Path

from temporalio.client import Client, TLSConfig
from temporalio.contrib.pydantic import pydantic_data_converter

from settings import Settings


def _tls(settings: Settings) -> TLSConfig | bool:
    """mTLS with our client certificate (and the cluster's private CA, if it has one)."""
    ca = Path(settings.temporal_tls_ca).read_bytes() if settings.temporal_tls_ca else None
    if settings.temporal_tls_cert and settings.temporal_tls_key:
        return TLSConfig(
            client_cert=Path(settings.temporal_tls_cert).read_bytes(),
            client_private_key=Path(settings.temporal_tls_key).read_bytes(),
            server_root_ca_cert=ca,
            domain=settings.temporal_tls_server_name,
        )
    if ca or settings.temporal_tls_server_name:
        return TLSConfig(server_root_ca_cert=ca, domain=settings.temporal_tls_server_name)
    return settings.temporal_tls or settings.temporal_api_key is not None


async def connect(settings: Settings) -> Client:
    """Connect to the configured cluster (dev server, self-hosted or Temporal Cloud)."""
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
        tls=_tls(settings),
        api_key=api_key,
    )
