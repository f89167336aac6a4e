# The two commands a new user runs: `make demo` and `make test`. Both create .venv and install
# the project into it; torch is installed first from the pinned CPU spec (override with TORCH=).
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV := .venv
PY := $(VENV)/bin/python
BENCH_VENV := .venv-bench
EXTRAS ?= lightning,test,dev,docs
CORE_VENV := .venv-core
COMPAT_VENV := .venv-compat

.PHONY: demo test quick docs test-core bench install browser lint type clean compat-env

# constraints.txt pins the versions the suite last passed with: without it pip's resolver can spend
# many minutes backtracking through boto/aiobotocore releases.
$(VENV)/.installed: pyproject.toml Makefile constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -c constraints.txt -e ".[$(EXTRAS)]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(PY) examples/quickstart/demo.py

# The page's browser tests drive Debian's Chromium (never a downloaded browser). Installed here when
# this runs as root with apt-get; elsewhere those tests skip and say why.
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's chromium for the browser tests"; \
		apt-get update -qq >/dev/null && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null || \
		echo "chromium could not be installed: the browser tests will skip"; \
	else echo "no chromium (and no root apt-get): the browser tests will skip"; fi

# The whole suite, then the same checks as tox's lint, type and core environments, and the docs.
test: install browser compat-env
	$(PY) -m pytest
	$(MAKE) --no-print-directory lint type docs test-core

# The documentation site (docs/, mkdocs.yml) into site/, in strict mode: a broken link or a
# stale API name fails the build. Every code block of the guides runs in tests/test_docs.py.
docs: install
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --quiet

# The inner loop: every test but the slow ones (processes, servers, the browser, Ray, Trainers).
quick: install
	$(PY) -m pytest -q -m "not slow"

# The original hyperparameter and test-tube, for the differential tests in tests/compat/.
# test-tube imports torch: the pinned CPU one goes in first. Where they cannot install (no
# index), make test goes on and those tests skip, each saying why; the next make tries again.
$(COMPAT_VENV)/.installed: tests/compat/requirements.txt constraints.txt
	$(PYTHON) -m venv $(COMPAT_VENV)
	$(COMPAT_VENV)/bin/python -m pip install --quiet "$(TORCH)"
	$(COMPAT_VENV)/bin/python -m pip install --quiet -c constraints.txt -r tests/compat/requirements.txt
	touch $@

compat-env:
	@$(MAKE) --no-print-directory $(COMPAT_VENV)/.installed || \
		echo "compat-env: the original libraries did not install; tests/compat/ will skip them"

# The core tests where torch and Lightning are not installed: hypertuner must work without them.
test-core:
	$(PYTHON) -m venv $(CORE_VENV)
	$(CORE_VENV)/bin/python -m pip install --quiet -c constraints.txt -e . pytest pytest-timeout
	$(CORE_VENV)/bin/python -m pytest -q -p no:cacheprovider \
		-o addopts="--strict-markers -ra --import-mode=importlib" \
		tests/test_public_api.py tests/test_import_light.py tests/test_architecture.py tests/test_parse.py \
		tests/test_scope.py tests/test_runs.py

# The reference tools live only here. Hydra 1.3 needs omegaconf < 2.4 and antlr 4.9, so the
# benchmark environment takes constraints.txt without those two pins (hypertuner works with both).
bench: install
	$(PYTHON) -m venv $(BENCH_VENV)
	grep -vE '^(omegaconf|antlr4-python3-runtime)==' constraints.txt > $(BENCH_VENV)/constraints.txt
	$(BENCH_VENV)/bin/python -m pip install --quiet "$(TORCH)"
	$(BENCH_VENV)/bin/python -m pip install --quiet -c $(BENCH_VENV)/constraints.txt \
		-e ".[$(EXTRAS)]" -r benchmarks/requirements.txt
	$(BENCH_VENV)/bin/python benchmarks/run_all.py

lint: install
	$(PY) -m ruff check hypertuner tests examples benchmarks
	$(PY) -m ruff format --check hypertuner tests examples benchmarks

type: install
	$(PY) -m mypy

clean:
	rm -rf $(VENV) $(BENCH_VENV) $(CORE_VENV) $(COMPAT_VENV) storage site .pytest_cache
