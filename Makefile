# Two commands for users: `make demo` and `make test`. Both set up .venv themselves, with the provider
# and its sandbox (a second distribution under sandbox/) installed from this checkout.
VENV   := .venv
PY     := $(VENV)/bin/python
UV     := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
STAMP  := $(VENV)/.installed

.PHONY: install demo ui test lint bench chaos clean

$(STAMP): pyproject.toml sandbox/pyproject.toml requirements/dev.lock
	@python3 -m uv --version >/dev/null 2>&1 || command -v uv >/dev/null 2>&1 || python3 -m pip install -q uv
	@test -x $(PY) || $(UV) venv $(VENV) --python python3.11 -q
	$(UV) pip sync -q --python $(PY) requirements/dev.lock
	$(UV) pip install -q --python $(PY) --no-deps -e . -e sandbox
	@touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# Debian's Chromium and its driver, for the browser test of the Dead letters page.
/usr/bin/chromedriver:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver

test: lint /usr/bin/chromedriver
	$(VENV)/bin/pytest

# Sandbox ports for demo and ui, e.g. `make demo PORTS="--s3-port 9420 --saas-port 0"` (0: any free port).
PORTS ?=

demo: $(STAMP)
	$(PY) scripts/demo.py $(PORTS)

ui: $(STAMP)
	$(PY) scripts/ui.py $(PORTS)

# Side by side on the sandbox in one run; results in benchmarks/RESULTS.md and benchmarks/results.png.
# Every benchmark runs even when one misses a goal; summary.py then lists every goal and fails on a miss.
bench: $(STAMP)
	rm -f benchmarks/results/*.json
	-$(PY) benchmarks/emulator_throughput.py 100000
	-$(PY) benchmarks/salesforce_extract.py 10000 100000 1000000 --repeats 3
	-$(PY) benchmarks/record_cpu.py 100000 5
	-$(PY) benchmarks/load.py 100000 1000000 1,10,100,500 3
	-$(PY) benchmarks/reverse_etl.py 100000 1000000
	-$(PY) benchmarks/dag_parse_time.py 7
	$(PY) benchmarks/summary.py

# The fault-injection suite alone (it also runs in `make test`).
chaos: $(STAMP)
	$(VENV)/bin/pytest tests/chaos

# Regenerate the pinned environment after changing dependencies in pyproject.toml.
lock:
	$(UV) pip compile pyproject.toml sandbox/pyproject.toml --extra dev --python-version 3.11 -q -o requirements/dev.lock

clean:
	rm -rf $(VENV) .sandbox .pytest_cache .mypy_cache .ruff_cache
