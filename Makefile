# The two commands a new machine needs: `make demo` and `make test`. Everything else is their set-up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: demo test setup system-deps models demo-video lint typecheck bench clean screenshots

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

setup: $(STAMP) system-deps

system-deps:
	@bash scripts/system-deps.sh

models: setup
	$(BIN)/watchnet models pull

demo-video: setup
	@$(BIN)/watchnet demo fetch-video

# The main job on the demo camera (finishes, prints where the results are), then, in a terminal, the
# console serving the demo camera (http://127.0.0.1:8080). Without a terminal (CI, scripts) it stops
# after the job and says how to start the console; SERVE=1 forces serving, SERVE=0 skips it.
demo: models demo-video
	$(BIN)/watchnet demo run
	@if [ "$(SERVE)" = 1 ] || { [ "$(SERVE)" != 0 ] && [ -t 0 ]; }; then \
	  $(BIN)/watchnet serve --demo; \
	else \
	  echo "Console: $(BIN)/watchnet users create-admin admin && $(BIN)/watchnet serve --demo"; \
	fi

test: models
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check watchnet tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: models
	$(BIN)/python bench/pipeline.py

# PNGs of every console page at 1600x900 and 390x844 from a real demo run (DATA: the shared test videos)
DATA ?= ../shared/data
screenshots: models
	$(BIN)/python scripts/screenshots.py $(DATA) docs/screenshots

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
