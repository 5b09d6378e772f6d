"""Issue 12 item 9: ``make test`` gets its own browser, or the browser test says how to.

A clean machine once failed ``make test`` with ``FileNotFoundError: '/usr/bin/chromium'``:
the browser was installed only by ``.ci/run``. Now the Makefile's ``test`` target runs
``python -m tools.browser ensure`` first, and a machine where it cannot install (not root,
no apt-get) gets a skip that names the install command instead of a crash.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from tools import browser

ROOT = Path(__file__).resolve().parent.parent


def _recipe(target: str) -> list[str]:
    """The recipe lines of one Makefile target."""
    lines = (ROOT / "Makefile").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(rf"^{target}:", line))
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def test_make_test_acquires_the_browser_before_pytest() -> None:
    recipe = _recipe("test")
    ensure = next(i for i, line in enumerate(recipe) if "-m tools.browser ensure" in line)
    pytest_line = next(i for i, line in enumerate(recipe) if "-m pytest" in line)
    assert ensure < pytest_line


def test_no_browser_skips_with_the_reason_and_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(browser.ENV_OVERRIDE, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on it
    assert browser.chromium_path() is None
    with pytest.raises(pytest.skip.Exception) as skipped:
        browser.require_chromium()
    assert "apt-get install -y chromium" in str(skipped.value)


def test_browser_found_on_path_or_by_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.delenv(browser.ENV_OVERRIDE, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert browser.chromium_path() == str(fake)
    monkeypatch.setenv(browser.ENV_OVERRIDE, str(tmp_path / "nowhere"))
    assert browser.chromium_path() is None  # an explicit setting is never second-guessed


def test_ensure_explains_instead_of_failing_where_it_cannot_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(browser.ENV_OVERRIDE, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no chromium and no apt-get
    found, what = browser.ensure()
    assert found is None
    assert "apt-get is not available" in what and browser.INSTALL_COMMAND in what
    assert browser.main(["ensure"]) == 0  # `make test` goes on; the browser test skips
    assert browser.main(["check"]) == 1
    assert "not root" in str(browser.why_not_installable(uid=1000, apt_get="/usr/bin/apt-get"))
    assert browser.why_not_installable(uid=0, apt_get="/usr/bin/apt-get") is None


def test_ensure_installs_debians_chromium_unattended() -> None:
    update, install = browser.install_command()
    assert update[-1] == "update"
    assert install[-len(browser.PACKAGES) :] == list(browser.PACKAGES)
    assert "-y" in install and "chromium" in browser.PACKAGES
