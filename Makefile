# The two commands a fresh clone needs: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
RUNTIME := $(VENV)/.runtime-installed
LOCK := requirements.lock

CHROMIUM_PACKAGES := chromium chromium-driver

.PHONY: demo test lint bench lock clean browser

# psycopg2 compiles against libpq: its headers (and pg_config) must be there first; installed when
# missing, as root on Debian or Ubuntu, else named.
$(VENV)/bin/python:
	@if command -v pg_config >/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then \
		echo "psycopg2 builds against libpq: install libpq-dev (Debian, Ubuntu: sudo apt-get install -y libpq-dev) or libpq-devel (Fedora) first" >&2; \
		exit 1; \
	fi; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libpq-dev
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# What running cruncan needs, nothing more: the demo.
$(RUNTIME): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# The test and lint toolchain on top.
$(INSTALLED): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(RUNTIME)
	$(BIN)/cruncan demo

lint: $(INSTALLED)
	$(BIN)/lint-imports
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The browser tests drive Debian's chromium through its chromedriver; installed only when missing.
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then exit 0; fi; \
	if [ "$$(id -u)" -ne 0 ]; then \
		echo "the browser tests need chromium and chromedriver; run: sudo apt-get update && sudo apt-get install -y $(CHROMIUM_PACKAGES)" >&2; \
		exit 1; \
	fi; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(CHROMIUM_PACKAGES)

# pytest exits 5 when it collected nothing: that is a broken suite, and is said so.
test: lint browser
	@$(BIN)/pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: the suite is missing or mis-configured" >&2; fi; \
	exit $$status

# `make bench BENCH_ARGS=--quick` for shorter runs; wrk must be installed (`apt-get install wrk`).
bench: $(INSTALLED)
	$(BIN)/python -m bench $(BENCH_ARGS)

# The production dependencies, pinned with their hashes, for the image (`pip install --require-hashes`).
lock: $(INSTALLED)
	$(BIN)/uv pip compile pyproject.toml --generate-hashes --python-version 3.11 \
		--custom-compile-command "make lock" --quiet --output-file $(LOCK)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
