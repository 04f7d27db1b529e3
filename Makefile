# leadscore — `make help` lists the targets.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
UV_VER  := 0.13.9
DATA    ?= data/sim
MONTHS  ?= 24
PORT    ?= 3000

.DEFAULT_GOAL := help
.PHONY: help install lock lint test demo bench clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-10s %s\n", $$1, $$2}'

$(BIN)/uv:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VER)

install: $(BIN)/uv ## Build .venv/ from requirements.lock (exact, hashed versions) and install leadscore into it
	$(BIN)/uv pip sync --python $(BIN)/python --require-hashes requirements.lock
	$(BIN)/uv pip install --python $(BIN)/python --no-deps -e .

lock: $(BIN)/uv ## Re-resolve requirements.lock from pyproject.toml (only when dependencies change)
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 --generate-hashes -o requirements.lock

lint: ## ruff check + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint ## Lint, then the whole test suite (unit and integration)
	$(BIN)/pytest -q

demo: ## The main job on embedded defaults: simulate → train → promote → rescore → serve on localhost
	$(BIN)/leadscore simulate --out $(DATA) --months $(MONTHS)
	$(BIN)/leadscore validate $(DATA)
	$(BIN)/leadscore train --data $(DATA)
	$(BIN)/leadscore promote --data $(DATA)
	$(BIN)/leadscore rescore --data $(DATA) --out $(DATA)-rescored
	$(BIN)/leadscore serve --port $(PORT)

bench: ## Run every benchmark in bench/ and print its figures (see BENCHMARKS.md)
	@for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean: ## Remove generated data and the local MLflow store
	rm -rf data/ mlruns/* .pytest_cache
