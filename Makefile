# The README's two commands: `make run` and `make test`. Everything installs from this repo's own files.
# `make deploy STACK=eu`: pulumi up, then the gradual rollout (python -m deploy; README, Safe deployments).
# `make smoke URL=... KEY=...`: checks a deployed (or the local) stack answers (python -m deploy.smoke).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test lint typecheck unit bench soak deploy smoke clean

$(STAMP): requirements.txt requirements-dev.txt handlers/requirements.txt container/requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

# Debian's Chromium, for the live view's browser test (tests/e2e/test_live_view.py): Playwright drives it and
# downloads no browser of its own. Only the test target installs it (a deploying machine needs no browser).
# A no-op once installed; without apt-get that test is skipped.
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(CHROMIUM):
	@if command -v apt-get >/dev/null 2>&1; then \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else \
		echo "no apt-get here: install Chromium as $(CHROMIUM) yourself; until then the live-view browser test is skipped"; \
	fi

install: $(STAMP)

run: $(STAMP)
	$(PY) -m local_gateway $(ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports  # the layering contracts in pyproject.toml (docs/architecture.md)

typecheck: $(STAMP)
	$(PY) -m mypy

unit: $(STAMP) $(CHROMIUM)
	$(PY) -m pytest $(PYTEST_ARGS)

test: lint typecheck unit

bench: $(STAMP)
	$(PY) -m bench $(ARGS)

soak: $(STAMP)
	$(PY) -m pytest -m slow --hypothesis-profile=soak $(PYTEST_ARGS)

deploy: $(STAMP)
	@test -n "$(STACK)" || { echo "usage: make deploy STACK=eu|us [ARGS='--yes --bake-minutes 15']" >&2; exit 2; }
	$(PY) -m deploy --stack $(STACK) $(ARGS)

# KEY reaches the tool through the environment, so its arguments never hold it, and `@` keeps make from echoing
# it; `export KEY=...` before `make smoke URL=...` keeps it off make's own command line too.
smoke: $(STAMP)
	@test -n "$(URL)" -a -n "$(KEY)" || { echo "usage: make smoke URL=<regionalApiUrl> KEY=<API key> [ARGS=--pay (a bank simulator only)]" >&2; exit 2; }
	@SMOKE_API_KEY='$(KEY)' $(PY) -m deploy.smoke --url '$(URL)' $(ARGS)

clean:
	rm -rf $(VENV) build .mypy_cache .ruff_cache .pytest_cache
