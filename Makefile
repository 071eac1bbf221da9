# Everything a newcomer needs: `make run` and `make test` do all set-up themselves.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
FLASK := $(BIN)/flask --app tracker
CHROMIUM ?= /usr/bin/chromium

.PHONY: help install translations messages db run test test-sqlite lint bench chromium wrk valgrind clean

help:
	@echo "make run    - set up, migrate, load demo data on an empty database, serve on http://127.0.0.1:5000"
	@echo "make test   - set up and run every test (PostgreSQL too when TRACKER_TEST_POSTGRES_URL is set)"
	@echo "make lint   - ruff"
	@echo "make bench  - benchmarks (see benchmarks/README.md)"

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP) translations

# Compiled catalogues are build output; the .po files are the source.
translations: $(STAMP)
	$(BIN)/pybabel compile -f -d tracker/translations

# After changing user-facing strings: add them to both catalogues (sorted, no locations), then
# translate the new zh entries it lists and run `make translations`.
messages: $(STAMP)
	$(BIN)/python -m tracker.translations.sync

db: install
	$(FLASK) db upgrade
	$(FLASK) demo --if-empty

run: db
	SCHEDULER_ENABLED=$${SCHEDULER_ENABLED:-1} $(FLASK) run --host 127.0.0.1 --port 5000

# Debian's Chromium for the browser tests; never a downloaded browser build.
chromium:
	@test -x $(CHROMIUM) || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-noto-cjk; }

test: install chromium
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check .

# wrk (Debian's package) drives the requests/s runs: a Python client would eat the cores it measures.
wrk:
	@command -v wrk >/dev/null || { \
	  echo "Installing Debian's wrk for the benchmarks"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk; }

# valgrind (Debian's package) counts instructions per request: a figure the shared cores do not move.
valgrind:
	@command -v valgrind >/dev/null || { \
	  echo "Installing Debian's valgrind for the benchmarks"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq valgrind; }

bench: install wrk valgrind
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) .pytest_cache tests/artifacts
