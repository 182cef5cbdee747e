# Two commands on a fresh clone: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: venv system-deps demo test bench model lint format lock clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

# Debian packages some tests use: headless Chromium and a CJK font for the e-mail
# screenshots and Chinese chart labels, docker-compose to check docker-compose.yml (no
# engine needed). Installed once when we are root or have passwordless sudo; otherwise
# explained, and those tests skip.
SYSTEM_PACKAGES := chromium fonts-noto-cjk docker-compose
SYSTEM_STAMP := $(VENV)/.system-deps-stamp

system-deps: $(SYSTEM_STAMP)

$(SYSTEM_STAMP):
	@have() { { command -v chromium || command -v chromium-browser; } >/dev/null 2>&1 \
	    && fc-list :lang=zh 2>/dev/null | grep -q . \
	    && { command -v docker-compose || docker compose version; } >/dev/null 2>&1; }; \
	if have; then mkdir -p $(VENV) && touch $@; exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then sudo=""; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	else sudo=none; fi; \
	if [ "$$sudo" != none ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "system-deps: installing $(SYSTEM_PACKAGES)"; \
	    $$sudo apt-get update -qq \
	    && $$sudo env DEBIAN_FRONTEND=noninteractive \
	        apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES); \
	fi; \
	if have; then mkdir -p $(VENV) && touch $@; else \
	    echo "system-deps: Chromium, a CJK font or docker-compose is missing and could not be"; \
	    echo "  installed here"; \
	    echo "  (needs apt-get and root or passwordless sudo). Install them with:"; \
	    echo "  sudo apt-get install --no-install-recommends $(SYSTEM_PACKAGES)"; \
	    echo "  Until then the tests that need them are skipped."; \
	fi

demo: venv system-deps
	$(BIN)/repwatch --config demo/repwatch.yaml demo

# The suite runs on every core (pytest-xdist); the slowest tests wait on subprocesses and
# servers, so two workers on two cores still finish well apart. TEST_WORKERS=0: one process.
TEST_WORKERS ?= auto

test: venv system-deps
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal

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
