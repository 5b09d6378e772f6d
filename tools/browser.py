"""Find, or install, the headless Chromium that the browser tests drive.

Why a module of its own: ``make test`` must pass on a fresh machine that has only Python
and make, and the supervisor board test needs a real browser. PyPI has no Debian Chromium
and nothing but a package registry is reachable, so the browser comes from Debian's
``chromium`` package, installed by ``make test`` itself (``python -m tools.browser ensure``)
when the machine allows it: root, ``apt-get`` present, no terminal questions
(``DEBIAN_FRONTEND=noninteractive``). Where it does not (not root, not Debian), ``ensure``
says why and exits 0, and the browser tests skip with that reason and the command to run
(CI sets ``GRIDPLUS_FAIL_ON_SKIP=1``, so a skip still fails CI). Every browser test (the
supervisor board today, Playwright tests later) calls ``chromium_path`` or
``require_chromium`` from here, so there is one place that knows where the browser is.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence

# chromium-driver for WebDriver/Playwright-style tests; the CJK font makes screenshots legible.
PACKAGES = ("chromium", "chromium-driver", "fonts-wqy-microhei")
INSTALL_COMMAND = "sudo apt-get update && sudo apt-get install -y " + " ".join(PACKAGES)
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
ENV_OVERRIDE = "GRIDPLUS_CHROMIUM"  # an explicit browser binary wins over the search


def chromium_path(path: str | None = None) -> str | None:
    """The browser binary: ``$GRIDPLUS_CHROMIUM`` if set, else the first candidate on PATH."""
    explicit = os.environ.get(ENV_OVERRIDE)
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for name in CANDIDATES:
        found = shutil.which(name, path=path)
        if found:
            return found
    return None


def missing_reason() -> str:
    """What a skipped browser test prints: why, and the one command that fixes it."""
    looked = ", ".join(CANDIDATES)
    return f"no Chromium found (looked for {looked}): install it with `{INSTALL_COMMAND}`"


def require_chromium() -> str:
    """The browser path, or skip the calling test with ``missing_reason``."""
    found = chromium_path()
    if found is None:
        import pytest

        pytest.skip(missing_reason())
    return found


def why_not_installable(uid: int | None = None, apt_get: str | None = None) -> str | None:
    """None if ``apt-get install`` can run here unattended, else the reason it cannot."""
    uid = os.geteuid() if uid is None else uid
    apt_get = shutil.which("apt-get") if apt_get is None else apt_get
    if not apt_get:
        return "apt-get is not available (not a Debian-like machine)"
    if uid != 0:
        return "not root, and installing system packages needs root (or sudo: see the command)"
    return None


def install_command(apt_get: str = "apt-get") -> list[list[str]]:
    """The commands ``ensure`` runs: refresh the package lists, then install unattended."""
    lock = ["-o", "DPkg::Lock::Timeout=300"]  # another apt run (a colleague's) may hold it
    return [
        [apt_get, *lock, "update"],
        [apt_get, *lock, "install", "-y", "--no-install-recommends", *PACKAGES],
    ]


def ensure(run: bool = True) -> tuple[str | None, str]:
    """Install Chromium where missing and allowed; (browser path or None, what happened)."""
    found = chromium_path()
    if found is not None:
        return found, f"Chromium present: {found}"
    reason = why_not_installable()
    if reason is not None:
        return None, f"Chromium missing and not installed here ({reason}); {missing_reason()}"
    if not run:
        return None, "Chromium missing; would install: " + " && ".join(
            " ".join(c) for c in install_command()
        )
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    print(f"installing Debian's {' '.join(PACKAGES)} (once; takes a minute or two)", flush=True)
    for command in install_command(shutil.which("apt-get") or "apt-get"):
        done = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, check=False)
        if done.returncode != 0:
            return None, f"`{' '.join(command)}` failed ({done.returncode}); {missing_reason()}"
    found = chromium_path()
    return found, f"Chromium installed: {found}" if found else missing_reason()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tools.browser [ensure|check|where]``; ``ensure`` exits 0 even when it
    could not install (the tests then skip with the reason), ``check`` exits 1 if missing."""
    args = list(sys.argv[1:] if argv is None else argv) or ["ensure"]
    if args[0] == "where":
        found = chromium_path()
        print(found or missing_reason())
        return 0 if found else 1
    if args[0] == "check":
        found, what = ensure(run=False)
        print(what)
        return 0 if found else 1
    if args[0] == "ensure":
        _, what = ensure()
        print(f"browser: {what}", flush=True)
        return 0
    print("usage: python -m tools.browser [ensure|check|where]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
