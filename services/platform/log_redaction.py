"""Credentials never reach a log line: tokens, API keys and device keys are redacted.

A log is read by more people (and kept longer) than the API's secrets should be: the
board's ``/supervisor?token=``, Open311's ``?api_key=``, an ``Authorization`` or
``X-Device-Key`` header in a debug dump, a department endpoint with a key in its URL in an
httpx line. ``redact`` replaces their values with ``[REDACTED]``.

``install()`` puts it into the process's log-record factory, so *every* record of every
logger (uvicorn's access log, httpx, ours, third parties') is redacted when it is created,
whatever handlers and formatters a log config sets up later: ``api.main`` installs it on
import (so ``uvicorn api.main:app`` and ``tools.devstack`` are covered) and the worker's
``configure_logging`` too. ``RedactingFilter`` does the same as a filter, for log configs
(``logging.config.dictConfig``) of processes that do not import ``api.main``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

MASK = "[REDACTED]"

# ``?token=…``/``&api_key=…`` in URLs and form bodies (also ``key``, ``access_token``...).
_QUERY = re.compile(
    r"(?i)((?:^|[?&;\s\"'])(?:token|api_key|apikey|access_token|refresh_token|key|"
    r"device_key|secret|password|signature|gridplus_token)=)[^&\s\"';]+"
)
# A header as ``Name: value``, ``'name': 'value'``, ``(b'name', b'value')`` or ``name=value``.
_HEADER = re.compile(
    r"(?i)((?:authorization|proxy-authorization|x-device-key|x-gridplus-signature|cookie|"
    r"set-cookie|x-api-key)(?:['\"]?\s*[:=]\s*(?:b?['\"])?|['\"]\s*,\s*b?['\"]))"
    r"((?:bearer|basic|token)\s+)?"
    r"[^\s'\",;)}\]]+"
)
# Our own bearer tokens, wherever they appear.
_GP_TOKEN = re.compile(r"gp1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def redact(text: str) -> str:
    """``text`` with every credential value replaced by ``[REDACTED]``."""
    if not text:
        return text
    text = _HEADER.sub(lambda m: m.group(1) + (m.group(2) or "") + MASK, text)
    text = _QUERY.sub(r"\1" + MASK, text)
    return _GP_TOKEN.sub("gp1." + MASK, text)


# Names whose value is a credential, as keys of a mapping logged with ``%(name)s``/``%s``.
_SENSITIVE_KEYS = frozenset(
    {"authorization", "proxy-authorization", "x-device-key", "x-gridplus-signature", "cookie",
     "set-cookie", "x-api-key", "token", "api_key", "apikey", "access_token", "password",
     "secret", "device_key"}
)  # fmt: skip


def _redact_arg(value: Any) -> Any:
    """A log argument, redacted; numbers stay numbers so ``%d`` still formats."""
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, (int, float, bool, bytes)):
        return value
    text = str(value)
    cleaned = redact(text)
    return value if cleaned == text else cleaned


def redact_record(record: logging.LogRecord) -> None:
    """Redact a record's message, arguments and exception text in place."""
    if isinstance(record.msg, str):
        record.msg = redact(record.msg)
    elif record.msg is not None and not isinstance(record.msg, (int, float)):
        text = str(record.msg)
        if redact(text) != text:
            record.msg = redact(text)
    if isinstance(record.args, Mapping):
        record.args = {
            key: MASK if str(key).lower() in _SENSITIVE_KEYS else _redact_arg(value)
            for key, value in record.args.items()
        }
    elif record.args:
        record.args = tuple(_redact_arg(value) for value in record.args)
    if record.exc_info and not record.exc_text:
        # formatters reuse ``exc_text`` when it is set, so the traceback is redacted too
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))


class RedactingFilter(logging.Filter):
    """A logging filter that redacts every record it sees (and never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def install() -> None:
    """Redact every log record this process creates from now on (idempotent)."""
    current = logging.getLogRecordFactory()
    if getattr(current, "gridplus_redacting", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        redact_record(record)
        return record

    factory.gridplus_redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
