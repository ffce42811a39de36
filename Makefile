# The README's two commands: `make demo` and `make test`. Both set up everything
# they need on a fresh Debian machine: a virtual environment in .venv with the
# project and its dev extra, and the Debian packages the course and its tests use
# (Fashion-MNIST, bubblewrap for the grading sandbox, Chromium for the feedback
# pages, a PostgreSQL server for the gradebook tests).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Two pytest workers, one test file each at a time (a file's module fixtures
# stay on one worker; files sharing a class autograded once go together, see
# tests/conftest.py); the 25 slowest tests are listed at the end.
PYTEST_ARGS ?= -n 2 --dist loadfile --durations=25
# Debian packages installed when missing (as root with apt-get; see the script).
DEBIAN_PACKAGES ?= dataset-fashion-mnist bubblewrap chromium postgresql

.PHONY: test test-slow demo install data clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

data:
	@sh scripts/ensure-packages.sh $(DEBIAN_PACKAGES)

# `make test`: every test not marked slow. `make test-slow`: the slow ones
# (autograde runs of real notebooks, the hostile classes in the sandbox, the
# Dask and PostgreSQL servers). CI (.ci/run) runs both.
test: install data
	TF_CPP_MIN_LOG_LEVEL=2 TF_ENABLE_ONEDNN_OPTS=1 $(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

test-slow: install data
	TF_CPP_MIN_LOG_LEVEL=2 TF_ENABLE_ONEDNN_OPTS=1 $(PY) -m pytest -m slow $(PYTEST_ARGS)

demo: install data
	TF_CPP_MIN_LOG_LEVEL=2 TF_ENABLE_ONEDNN_OPTS=1 $(VENV)/bin/kerasdl-grade demo

clean:
	rm -rf $(VENV) build *.egg-info
