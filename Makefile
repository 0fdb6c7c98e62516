# The two commands a user needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint check bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)  ## run the whole pipeline once, offline, on the shipped sample feeds
	$(PY) -m bot demo

test: $(STAMP)  ## run the test suite
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check bot tests bench
	$(VENV)/bin/mypy

check: lint test

bench: $(STAMP)
	$(PY) bench/classify.py
	$(PY) bench/fetch.py
	$(PY) bench/poll.py

clean:
	rm -rf $(VENV) data/*.db* .pytest_cache .mypy_cache .ruff_cache
