# ketasim — the two commands. Needs only Python >= 3.11, git and make.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/ketasim run --out results/flagship

test: $(STAMP)
	$(PY) -m pytest -n 2 src tests

bench: $(STAMP)
	$(PY) benchmarks/pk_population.py

clean:
	rm -rf $(VENV) results build *.egg-info src/*.egg-info
