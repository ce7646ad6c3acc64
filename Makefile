# The two set-up commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest venv mosquitto bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
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

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) mosquitto
	$(BIN)/pytest -q -p no:cacheprovider

test: lint typecheck pytest

demo: $(STAMP)
	$(BIN)/tetragw demo

bench: $(STAMP)
	$(BIN)/python -m benchmarks.protocol_codecs

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache
