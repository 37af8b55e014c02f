# The README's two commands: `make run` and `make test`. Everything installs from this repo's own files.
# `make deploy STACK=eu`: pulumi up, then the gradual rollout (python -m deploy; README, Safe deployments).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test lint typecheck unit bench soak deploy clean

$(STAMP): requirements.txt requirements-dev.txt handlers/requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) -m local_gateway $(ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(STAMP)
	$(PY) -m mypy

unit: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

test: lint typecheck unit

bench: $(STAMP)
	$(PY) -m bench

soak: $(STAMP)
	$(PY) -m pytest -m slow --hypothesis-profile=soak $(PYTEST_ARGS)

deploy: $(STAMP)
	@test -n "$(STACK)" || { echo "usage: make deploy STACK=eu|us [ARGS='--yes --bake-minutes 15']" >&2; exit 2; }
	$(PY) -m deploy --stack $(STACK) $(ARGS)

clean:
	rm -rf $(VENV) build .mypy_cache .ruff_cache .pytest_cache
