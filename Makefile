# Quick start:  make run   (serve the embedded default)   |   make test   (run the tests)
# Both create .venv on first use. PYTHON picks the interpreter (3.11+).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench clean

run: $(VENV)/.installed
	$(BIN)/mentorkit serve

test: $(VENV)/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check .

bench: $(VENV)/.installed
	$(BIN)/python -m benchmarks.run

$(VENV)/.installed: setup.cfg pyproject.toml tests/plugin_example/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,speed]' -e tests/plugin_example
	touch $@

clean:
	rm -rf $(VENV) mentorkit.db mentorkit.db-wal mentorkit.db-shm
