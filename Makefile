# Two commands on a fresh clone: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: venv demo test bench model lint format lock clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

demo: venv
	$(BIN)/repwatch --config demo/repwatch.yaml demo

test: venv
	$(BIN)/python -m pytest

# Performance figures against their targets and peers (a missed target is reported, not failed).
bench: venv
	$(BIN)/repwatch bench

# Rebuild the shipped sentiment model from repwatch/nlp/data (fixed seed, byte-identical).
model: venv
	$(BIN)/repwatch train-sentiment

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Re-resolve the pins from requirements.in (needs network access to PyPI).
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet -r requirements.in
	.lock-venv/bin/python -m pip freeze --exclude-editable > requirements.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) data .pytest_cache .ruff_cache
