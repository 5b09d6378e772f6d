"""The test suite. The environment defaults below are set here, when the package is first
imported and so before ``tests/conftest.py`` imports the app: ``api.main`` builds its
module-level app at import, and that reads (and caches) the settings. Set any later, as
``conftest.py`` once did after its imports, they were silently ignored: the suite ran
with office hours and steward duty rosters, and a steward's accept limit filed after
22:00 town time fell due at 07:10 the next morning (tests failed only at night).
"""

import os

# The suite's workers re-import workflow modules for every run, so the sandbox's guard
# against clocks, randomness and I/O applies inside them (see worker.workflow_runner).
os.environ.setdefault("GRIDPLUS_WORKFLOW_SANDBOX", "isolated")
# The suite's cases keep wall-clock limits (their timings predate working time); the
# working-time tests (tests/test_worktime_*.py) build their catalog with office hours.
os.environ.setdefault("GRIDPLUS_WORKING_TIME", "0")
