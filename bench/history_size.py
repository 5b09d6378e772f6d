"""History size per case path (events and bytes), from the histories saved by the tests.

The saved histories under ``tests/histories`` are real runs of every path on the real
Temporal test server (``make histories`` records them). Target: a typical case under 100
events. Those under ``v0/`` were recorded before ``PATCH_LOCAL_IO`` and are shown beside
the current ones for comparison.

Usage: ``python -m bench.history_size``.
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "tests" / "histories"


def main() -> None:
    print(f"{'path':48} {'events':>7} {'bytes':>9}   {'v0 events':>9} {'v0 bytes':>9}")
    for path in sorted(ROOT.glob("*.json")):
        events = len(json.loads(path.read_text())["events"])
        old = ROOT / "v0" / path.name
        old_events = len(json.loads(old.read_text())["events"]) if old.exists() else None
        old_bytes = old.stat().st_size if old.exists() else None
        print(
            f"{path.stem:48} {events:>7} {path.stat().st_size:>9}   "
            f"{old_events if old_events is not None else '-':>9} "
            f"{old_bytes if old_bytes is not None else '-':>9}"
        )


if __name__ == "__main__":
    main()
