# The two set-up commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest venv mosquitto bench fuzz chaos test-certs clean

# The versions installed are constraints.txt's: what was tested together (tests/test_constraints.py).
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --constraint constraints.txt --upgrade pip
	$(BIN)/pip install --quiet --constraint constraints.txt --build-constraint constraints.txt \
	  -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

# Integration tests need a real Mosquitto (Debian's package).
mosquitto:
	@command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || { \
	  echo "installing mosquitto (Debian package)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto mosquitto-clients; }

lint: $(STAMP)
	$(BIN)/ruff check gateway protocols hardware tests benchmarks
	$(BIN)/ruff format --check gateway protocols hardware tests benchmarks
	sh -n scripts/make-test-certs.sh

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) mosquitto
	$(BIN)/pytest -q -p no:cacheprovider

test: lint typecheck pytest

demo: $(STAMP)
	$(BIN)/tetragw demo

bench: $(STAMP) mosquitto
	$(BIN)/python -m benchmarks

# Fuzzing at scale (a short run is part of `make test`).
FUZZ_BUDGET_S ?= 300
fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz.run --budget-s $(FUZZ_BUDGET_S)

# The chaos suite: real processes, random faults, every callout accounted for (long).
CHAOS_CALLOUTS ?= 500
chaos: $(STAMP) mosquitto
	$(BIN)/python -m tests.chaos --callouts $(CHAOS_CALLOUTS)

test-certs:
	sh scripts/make-test-certs.sh var/test-certs

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache
