# make run   set up .venv, create a demo site here if there is none, build it and serve it
# make test  set up .venv with the test extras and run the whole suite (what CI runs)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)
HOST   ?= 127.0.0.1
PORT   ?= 8080

.PHONY: run test lint demo bench clean

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

test: $(STAMP)
	$(BIN)/pytest
	$(MAKE) lint

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Figures for the daemon (1k to 1M articles) and for bulk import; several minutes.
bench: $(STAMP)
	$(BIN)/python bench/bench_daemon.py
	$(BIN)/python bench/bench_import.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
