# The README's commands. Every target installs what it needs first (scripts/bootstrap.sh):
# demo and start only the runtime set (the app + devhost), the others the development set too.
PY := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: install install-runtime demo start test lint unit bench clean

install:
	@scripts/bootstrap.sh dev

install-runtime:
	@scripts/bootstrap.sh runtime

## Main job: Azurite + devhost + SQLite ODBC, uploads the sample images, prints the rows.
demo: install-runtime
	$(PY) -m scripts.demo

## Long-running local session (like `func start` with Azurite).
start: install-runtime
	@mkdir -p data
	$(PY) -m imagemeta.db migrate
	$(PY) -m devhost start --with-azurite

## The whole test suite (what .ci/run calls).
test: install lint
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	shellcheck infra/deploy.sh scripts/bootstrap.sh .ci/run

## The fast suite: in-process tests only, no Azurite, no subprocess (tests/README.md).
unit: install
	$(PY) -m pytest -m unit $(PYTEST_ARGS)

bench: install
	$(PY) -m bench

clean:
	rm -rf data .pytest_cache .ruff_cache
