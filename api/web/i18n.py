"""Languages of the web pages: Chinese (default) and English, from Babel message catalogues.

Templates mark text with ``{% trans %}`` / ``_()`` (Jinja2's i18n extension); the strings
live in ``locales/<lang>/LC_MESSAGES/messages.po`` (``pybabel extract -F babel.cfg -o
locales/messages.pot .`` then ``pybabel update -i locales/messages.pot -d locales``).
Only the ``.po`` files are committed: they are compiled in memory with Babel when first
used, so a fresh clone needs no build step and a ``.mo`` can never be stale. The user's
choice is the ``gridplus_lang`` cookie, else the browser's ``Accept-Language``, else zh.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Literal, Protocol

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from fastapi import Request
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from schemas.platform.common import town_time
from services.worktime.text import deadline_text

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")
DEFAULT: Lang = "zh"
LANG_COOKIE = "gridplus_lang"
ROOT = Path(__file__).resolve().parents[2]
LOCALES = ROOT / "locales"
TEMPLATES = ROOT / "templates" / "web"


@lru_cache
def translations(lang: Lang) -> gettext.GNUTranslations:
    """The compiled catalogue of ``lang`` (compiled from its .po in memory, once)."""
    with (LOCALES / lang / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale=lang)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def negotiate(request: Request) -> Lang:
    """The cookie's language, else the best of Accept-Language, else Chinese."""
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LANGS:
        return chosen
    header = request.headers.get("accept-language", "")
    preferred = [part.split(";")[0].strip().replace("-", "_") for part in header.split(",")]
    try:
        best = Locale.negotiate([p for p in preferred if p and p != "*"], list(LANGS), sep="_")
    except (UnknownLocaleError, ValueError):
        best = None
    return best.language if best is not None and best.language in LANGS else DEFAULT


class Named(Protocol):
    """A catalog entry with a code and a name in each language (case types, departments)."""

    @property
    def code(self) -> str: ...
    @property
    def name_zh(self) -> str: ...
    @property
    def name_en(self) -> str: ...


def html_environment(folder: Path, extensions: tuple[str, ...] = ()) -> Environment:
    """How every HTML page's templates load (the workbench here, the supervisor board in
    ``api.routers.pages``): escaped, and a missing name is an error, not an empty string."""
    return Environment(
        loader=FileSystemLoader(folder),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=list(extensions),
    )


@lru_cache
def environment(lang: Lang) -> Environment:
    """A Jinja2 environment whose ``_``/``gettext``/``ngettext`` speak ``lang``, with the
    filters long tables use per row (``local_time``; ``until``, a deadline as the case page, the
    queue and the desk say it, "周四 15:30（8个工作小时）" when it counts working time, else its
    town time; and ``names_by_code`` to look names up once per table): a filter is a plain
    call, a function called from a template is not."""
    env = html_environment(TEMPLATES, ("jinja2.ext.i18n",))
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.globals["lang"] = lang

    def names_by_code(entries: Iterable[Named]) -> dict[str, str]:
        return {e.code: e.name_zh if lang == "zh" else e.name_en for e in entries}

    env.filters["local_time"] = town_time
    env.filters["names_by_code"] = names_by_code
    env.filters["until"] = lambda deadline, span: deadline_text(deadline, span, lang)
    return env


def gettext_for(lang: Lang) -> gettext.GNUTranslations:
    """For text built in Python (flash messages, refusals) rather than in a template."""
    return translations(lang)
