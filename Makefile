# ketasim — the two commands. Needs only Python >= 3.11, git and make.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test bench clean browser postgres

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/ketasim run --out results/flagship

# Headless Chromium for the report's browser test (Debian package; Playwright drives it and
# never downloads a browser of its own). Idempotent: does nothing when /usr/bin/chromium exists.
CHROMIUM ?= /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { echo "installing chromium (Debian package) for the browser test"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }
	@test -x $(CHROMIUM) || { echo "chromium is missing at $(CHROMIUM): the browser test will fail"; exit 1; }

# PostgreSQL server binaries for the web store's PostgreSQL test (Debian package; the test starts a
# throwaway server of its own). Idempotent: does nothing when /usr/lib/postgresql/*/bin/initdb exists.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { echo "installing postgresql (Debian package) for the web store test"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql; }
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { echo "postgresql is missing (no /usr/lib/postgresql/*/bin/initdb): the PostgreSQL test will fail"; exit 1; }

test: $(STAMP) browser postgres
	$(PY) -m pytest -n 2 src tests

bench: $(STAMP)
	$(PY) benchmarks/pk_population.py

clean:
	rm -rf $(VENV) results build *.egg-info src/*.egg-info
