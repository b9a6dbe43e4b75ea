# The two commands of the README:
#   make demo   create the environment if needed, run examples/quickstart.py on a bundled CIF
#   make test   create the environment if needed, run ruff, the whole pytest suite and a -W Sphinx build
#
# The environment is .venv in the repository, made with `$(PYTHON) -m venv`. It is (re)installed when
# pyproject.toml is newer than the stamp file. torch is installed first and pinned, so that the project's
# `torch>=2.1,<3` is already satisfied and pip never pulls a different (e.g. multi-GB CUDA) build.

PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.xrdsynth-installed
PIP := $(BIN)/python -m pip --disable-pip-version-check -q
# pytest-xdist workers: one per core, at most 4 (the suite is mostly single-threaded Python; tests/conftest.py
# gives each worker an equal share of the cores for torch). `make pytest WORKERS=0` runs in one process.
WORKERS ?= auto

.PHONY: demo test lint pytest docs venv clean

demo: $(STAMP)
	$(BIN)/python examples/quickstart.py

test: lint pytest docs
	@echo "==> make test: all checks passed"

lint: $(STAMP)
	@echo "==> ruff check ."
	$(BIN)/ruff check .

pytest: $(STAMP)
	@echo "==> pytest"
	$(BIN)/python -m pytest -n $(WORKERS) --maxprocesses 4 --dist worksteal

docs: $(STAMP)
	@echo "==> sphinx-build -W (docs/_build/html)"
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || \
		{ echo "xrdsynth needs Python >= 3.10; '$(PYTHON)' is older (use: make PYTHON=python3.x ...)"; exit 1; }
	@echo "==> creating/updating $(VENV) with $(PYTHON) (this takes a minute the first time)"
	$(PYTHON) -m venv $(VENV)
	$(PIP) install "$(TORCH)"
	$(PIP) install -e ".[test,docs]"
	@touch $(STAMP)

clean:
	rm -rf docs/_build .pytest_cache .ruff_cache .hypothesis
