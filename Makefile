# make run        set up .venv, create a demo site here if there is none, build it and serve it
# make test       set up .venv with the test extras and run the whole suite (what CI runs)
# make test-fast  SQLite only, no daemon subprocesses, then lint: about a minute

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)
HOST   ?= 127.0.0.1
PORT   ?= 8080

.PHONY: run test test-fast lint demo bench clean

# The PostgreSQL tests run whenever a server answers here (as in CI); set
# FEEDER_TEST_POSTGRES_URL to use another one, or to "" to skip them.
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
define with_postgres
if [ -z "$${FEEDER_TEST_POSTGRES_URL+set}" ] && $(BIN)/python -c "import socket; socket.create_connection(('127.0.0.1', 5432), 1).close()" 2>/dev/null; then \
  export FEEDER_TEST_POSTGRES_URL="$(PG_URL)"; echo "PostgreSQL answers on 127.0.0.1:5432: its tests run too"; \
elif [ -z "$${FEEDER_TEST_POSTGRES_URL:-}" ]; then echo "no PostgreSQL on 127.0.0.1:5432: its tests are skipped"; fi; \
$(1)
endef

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $@

demo: $(STAMP)
	@if [ ! -f feeder.toml ]; then \
	  $(BIN)/feeder init . --title "feeder demo" --base-url "http://$(HOST):$(PORT)/" \
	    --author "Demo Author" --id-authority "demo.feeder.invalid" && \
	  $(BIN)/feeder import examples/articles; \
	fi

run: demo
	@echo "Ctrl-C to stop"
	$(BIN)/feeder run --host $(HOST) --port $(PORT)

# The suite runs in one process per CPU (pytest-xdist). The daemon tests, which assert
# how soon daemons take over or stop, share one of them (xdist_group "daemons") and so
# never run beside each other. TEST_JOBS=0 runs everything in one process.
TEST_JOBS ?= auto
PYTEST := $(BIN)/pytest -n $(TEST_JOBS) --dist loadgroup

test: $(STAMP)
	@$(call with_postgres,$(PYTEST))
	$(MAKE) lint

test-fast: $(STAMP)
	$(PYTEST) -m "not slow and not postgres" -q
	$(MAKE) lint

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Figures for the daemon and full builds (1k to 1M articles), bulk import and the server;
# an hour or more (a million articles to import).
bench: $(STAMP)
	$(BIN)/python bench/bench_startup.py
	$(BIN)/python bench/bench_daemon.py
	$(BIN)/python bench/bench_import.py
	$(BIN)/python bench/bench_server.py
	$(BIN)/python bench/bench_feeds.py
	$(BIN)/python bench/bench_websub.py
	$(BIN)/python bench/bench_media.py
	$(BIN)/python bench/bench_tombstones.py
	$(BIN)/python bench/bench_latency.py
	$(BIN)/python bench/bench_handover.py
	$(BIN)/python bench/bench_build.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
