# Two entry points: `make run` starts a gateway on the embedded default
# (SQLite and local files, initialized on first run) and `make test` runs
# the whole suite. Both create the virtual environment they need.

PYTHON ?= $(shell for p in python3.12 python3.13; do \
	  if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; assert sys.version_info >= (3, 12)' 2>/dev/null; then echo $$p; exit; fi; \
	  if command -v pyenv >/dev/null 2>&1; then \
	    v=$$(pyenv versions --bare 2>/dev/null | grep -E "^$${p#python}\." | sort -V | tail -1); \
	    if [ -n "$$v" ]; then echo "env PYENV_VERSION=$$v $$p"; exit; fi; \
	  fi; \
	done)
VENV ?= .venv
BIN := $(VENV)/bin
INSTANCE ?= instance
HOSTNAME_ ?= $(shell hostname -f 2>/dev/null || echo localhost)
ADMIN_EMAIL ?= admin@$(HOSTNAME_)

.PHONY: run test venv lint typecheck clean

$(BIN)/careseal: pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.12 or newer not found: install python3.12" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

venv: $(BIN)/careseal

run: $(BIN)/careseal
	@test -f $(INSTANCE)/careseal.toml || $(BIN)/careseal init --dir $(INSTANCE) \
	    --hostname $(HOSTNAME_) --admin-email $(ADMIN_EMAIL) \
	    --submission-listen 127.0.0.1:5870 --web-listen 127.0.0.1:8025 --mx-listen 127.0.0.1:2525 \
	    --public-url http://127.0.0.1:8025
	$(BIN)/careseal --config $(INSTANCE)/careseal.toml run

test: $(BIN)/careseal
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(BIN)/careseal
	$(BIN)/ruff check src tests $(wildcard bench)

typecheck: $(BIN)/careseal
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache
