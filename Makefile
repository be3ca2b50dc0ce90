# Two commands for a fresh machine with Python 3.11:
#   make demo   install into .venv and run the demo (no data needed)
#   make test   install into .venv (with test extras) and run the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install demo test bench-quality clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/cyclesr demo

test: install
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) demo_out .pytest_cache *.egg-info
