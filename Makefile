# The two commands a new user runs: `make demo` and `make test`. Both create .venv and install
# the project into it; torch is installed first from the pinned CPU spec (override with TORCH=).
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV := .venv
PY := $(VENV)/bin/python
BENCH_VENV := .venv-bench
EXTRAS ?= lightning,test

.PHONY: demo test bench install lint type clean

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(PY) examples/quickstart/demo.py

test: install
	$(PY) -m pytest

bench: install
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet "$(TORCH)"
	$(BENCH_VENV)/bin/python -m pip install --quiet -e ".[$(EXTRAS)]" -r benchmarks/requirements.txt
	$(BENCH_VENV)/bin/python benchmarks/run_all.py

lint: install
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m ruff check hypertuner tests examples benchmarks
	$(PY) -m ruff format --check hypertuner tests examples benchmarks

type: install
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m mypy

clean:
	rm -rf $(VENV) $(BENCH_VENV) storage .pytest_cache
