# pacsweb: `make run` and `make test` do all the set-up themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
VIEWER_STAMP := static/viewer/.built
OHIF_DIST := tests/ohif/node_modules/@ohif/app/dist/index.html
PYTEST_ARGS ?=
# Two workers: CI and the reference machine have 2 cores.
TEST_WORKERS ?= 2

.PHONY: help setup sysdeps run test test-slow lint format bench bench-production migrate frontend ohif clean

help:
	@echo "make run     set up and start web (127.0.0.1:8000), DICOM listener (11112) and tasks"
	@echo "make test    set up and run the whole test suite"
	@echo "make bench   measure pacsweb and Orthanc side by side (docs/performance.md)"
	@echo "make bench-production  the same on PostgreSQL + Redis up to 100,000 instances"
	@echo "make lint    ruff and mypy"

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "pacsweb needs Python 3.11 or newer")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

setup: $(STAMP) frontend

# The viewer bundle is built when its sources change, and only if Node is there
# (the server runs without it; the viewer page then says the bundle is missing).
frontend: $(VIEWER_STAMP)
$(VIEWER_STAMP): $(shell find frontend -type f -not -path '*/node_modules/*' 2>/dev/null)
	@if [ -f frontend/package.json ]; then \
		cd frontend && npm ci --no-audit --no-fund --loglevel=error && npm run build; \
	else mkdir -p static/viewer; fi
	@mkdir -p static/viewer && touch $@

# The prebuilt OHIF Viewer that tests/test_ohif.py puts in front of pacsweb
# (docs/viewer.md), pinned by tests/ohif/package-lock.json. Without npm the
# test is skipped, naming why.
ohif: $(OHIF_DIST)
$(OHIF_DIST): tests/ohif/package.json tests/ohif/package-lock.json
	@if command -v npm >/dev/null; then \
		cd tests/ohif && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error \
		&& touch node_modules/@ohif/app/dist/index.html; \
	else echo "npm is missing: OHIF is not installed and tests/test_ohif.py is skipped"; fi

# Debian packages the tests talk to as real peers: dcmtk tools, Chromium,
# Orthanc with its DICOMweb and PostgreSQL index plugins, and docker-compose
# to validate the compose file.
sysdeps:
	@missing=""; \
	command -v storescu >/dev/null || missing="$$missing dcmtk"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v docker-compose >/dev/null || missing="$$missing docker-compose"; \
	test -x /usr/sbin/Orthanc || missing="$$missing orthanc"; \
	test -f /usr/share/orthanc/plugins/libOrthancDicomWeb.so || missing="$$missing orthanc-dicomweb"; \
	test -f /usr/share/orthanc/plugins/libOrthancPostgreSQLIndex.so || missing="$$missing orthanc-postgresql"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

migrate: $(STAMP)
	$(PY) manage.py migrate --noinput

run: setup migrate
	$(PY) manage.py ensure_admin
	$(PY) -m pacsweb.run

test: setup sysdeps ohif
	$(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

# Scale and fault tests: minutes each, run by .ci/run after `make test`.
test-slow: setup sysdeps ohif
	$(PY) -m pytest -m slow $(PYTEST_ARGS); rc=$$?; if [ $$rc = 5 ]; then echo "no slow tests selected"; exit 0; fi; exit $$rc

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: setup sysdeps
	$(PY) -m bench $(BENCH_ARGS)

# Needs the machine's PostgreSQL on 127.0.0.1:5432 (a role that may create
# databases: --pg-admin-url) and redis-server; see docs/performance.md.
bench-production: setup sysdeps
	$(PY) -m bench --profile production $(BENCH_ARGS)

clean:
	rm -rf $(VENV) static/viewer frontend/node_modules tests/ohif/node_modules
