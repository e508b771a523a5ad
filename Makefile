# Comptoir: `make run` serves the demo shop, `make test` runs the whole suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
export PORT

.PHONY: run install test e2e-deps lint bench bench-deps translations extract-messages clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed translations

translations: $(VENV)/.installed
	$(BIN)/pybabel compile -d translations

# After changing buyer-facing strings: refresh the catalogues, then translate the new entries.
extract-messages: $(VENV)/.installed
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o translations/messages.pot .
	$(BIN)/pybabel update -i translations/messages.pot -d translations

run: install
	$(BIN)/comptoir db upgrade
	$(BIN)/comptoir demo load
	$(BIN)/comptoir demo-credentials
	$(BIN)/comptoir serve --port $(PORT)

node_modules/axe-core/axe.min.js: package.json
	npm install --no-audit --no-fund --silent
	touch $@

# Under CI (CI=true, 1 or yes) nothing the suite needs may be missing: what would skip fails.
IN_CI := case "$$(printf %s "$${CI:-}" | tr A-Z a-z)" in true|1|yes) true;; *) false;; esac

e2e-deps: node_modules/axe-core/axe.min.js
	@if command -v chromium >/dev/null || [ -x /usr/bin/chromium ]; then :; \
	elif apt-get update -qq && apt-get install -y -qq chromium; then :; \
	elif $(IN_CI); then \
		echo "chromium is missing and could not be installed (CI: browser tests may not skip)" >&2; \
		exit 1; \
	else echo "chromium is missing and could not be installed: browser tests will skip"; fi

# The whole suite on SQLite, less the PostgreSQL-only tests; then on PostgreSQL when
# COMPTOIR_TEST_DATABASE_URL is set, which CI must do: there the second pass is not optional.
test: $(VENV)/.installed-test translations e2e-deps
	@if [ -z "$$COMPTOIR_TEST_DATABASE_URL" ] && $(IN_CI); then \
		echo "CI: set COMPTOIR_TEST_DATABASE_URL, the PostgreSQL pass must run" >&2; exit 1; \
	fi
	env -u COMPTOIR_TEST_DATABASE_URL $(BIN)/pytest -q -m "not postgres"
	@if [ -n "$$COMPTOIR_TEST_DATABASE_URL" ]; then \
		echo "== PostgreSQL: $$COMPTOIR_TEST_DATABASE_URL"; \
		$(BIN)/pytest -q -m "not e2e"; \
	else \
		echo "== PostgreSQL pass not run (its tests were left out): set COMPTOIR_TEST_DATABASE_URL"; \
	fi

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/mypy

# bench/bench_lighthouse.py runs the npm lighthouse CLI (package.json's devDependencies).
node_modules/.bin/lighthouse: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $@

bench: $(VENV)/.installed-test node_modules/.bin/lighthouse
	@mkdir -p bench/results
	@failed=""; for script in bench/bench_*.py; do echo "== $$script"; \
		$(BIN)/python $$script || failed="$$failed $$script"; done; \
	if [ -n "$$failed" ]; then echo "below their goals or failed:$$failed" >&2; exit 1; fi

# bench/bench_pages.py loads the servers with wrk (Debian's package).
bench-deps:
	@command -v wrk >/dev/null || apt-get install -y wrk || \
		{ echo "wrk is missing and could not be installed: apt-get install -y wrk" >&2; exit 1; }

clean:
	rm -rf $(VENV) node_modules instance .pytest_cache
