# One-command local stack and the usual chores. Needs only Python 3.11+ and make:
# the first target that needs the virtualenv creates it.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
ARGS ?=
LINT_PATHS ?= workflows activities api schemas services tools tests bench worker.py settings.py constants.py

.PHONY: venv run test faults lint demo-data clean soak

# Reinstall only when pyproject.toml changes (the stamp is newer otherwise).
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "gridplus needs Python >= 3.11 (found $$($(PYTHON) --version))"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

# Temporal dev server + migrations + demo data + worker + API; Ctrl-C stops everything.
run: $(STAMP)
	$(BIN)/python -m tools.devstack $(ARGS)

# The browser tests need Debian's Chromium: installed here when missing and the machine
# allows it (root + apt-get), else they skip saying how (tools/browser.py).
test: $(STAMP)
	$(BIN)/python -m tools.browser ensure
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Crash and fault tests on real processes (dev server, worker, database, gateway): a few
# minutes. Opt-in by GRIDPLUS_FAULTS=1, so `make test` never collects them a second time.
faults: $(STAMP)
	GRIDPLUS_FAULTS=1 $(BIN)/python -m pytest tests/faults $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy --strict $(LINT_PATHS)

demo-data: $(STAMP)
	$(BIN)/python -m tools.demo_data $(ARGS)

clean:
	rm -rf .data

# The model-based walks (tests/test_model_*.py) with random seeds for a time budget:
# `make soak SOAK_SECONDS=1200`; the seed is printed first, replay with SOAK_SEED=<seed>.
# `make soak SOAK_SECONDS=0` runs the fixed-seed walk once.
SOAK_SECONDS ?= 1200
SOAK_SEED ?=
soak: $(STAMP)
	GRIDPLUS_MODEL_WALK=1 GRIDPLUS_SOAK_SECONDS=$(SOAK_SECONDS) GRIDPLUS_SOAK_SEED=$(SOAK_SEED) \
		$(BIN)/python -m pytest -p no:cacheprovider -s -x tests/test_model_case.py tests/test_model_rectification.py tests/test_model_inspection.py tests/test_model_campaign.py $(PYTEST_ARGS)
