"""The API under cProfile, for the benchmarks: ``python -m bench.profile_api OUT [uvicorn args]``.

``python -m cProfile -m uvicorn`` writes nothing: uvicorn re-raises the SIGTERM it was
stopped with once it has shut down, and the default handler ends the process before
cProfile dumps. Here our own SIGTERM handler (the one uvicorn restores before re-raising)
writes the stats, then exits. No py-spy on this machine; cProfile slows the API ~2x, so
read the shares, not the milliseconds.
"""

from __future__ import annotations

import cProfile
import os
import signal
import sys
from types import FrameType

import uvicorn


def main() -> None:
    out, args = sys.argv[1], sys.argv[2:]
    profile = cProfile.Profile()

    def dump(_signal: int, _frame: FrameType | None) -> None:
        profile.disable()
        profile.dump_stats(out)
        os._exit(0)

    signal.signal(signal.SIGTERM, dump)
    signal.signal(signal.SIGINT, dump)
    sys.argv = ["uvicorn", *args]
    profile.enable()
    uvicorn.main()


if __name__ == "__main__":
    main()
