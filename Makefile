# make demo / make test do every set-up step themselves on a fresh machine.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
# pip install runs again only when pyproject.toml changes (or the venv is new)
STAMP  := $(VENV)/.trivision-installed
BENCH_STAMP := $(VENV)/.trivision-bench-installed

.PHONY: venv install test demo bench

venv: $(PY)

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -e '.[test,demo,export,serve]'
	touch $@

# the weights step is cheap and idempotent, and its target (torch's hub cache) lives outside the
# venv, so it is checked on every run rather than trusted to the stamp
install: $(STAMP)
	$(PY) scripts/install_weights.py

test: install
	$(PY) -m pytest

# make demo CARS="a.jpg b.jpg": the cars section names the cars in your photos
demo: install
	$(PY) -m trivision.demo $(if $(CARS),--cars $(CARS))

# every speed benchmark, tables printed and written to bench/RESULTS.md (the bench extra brings the
# lab's Keras and TensorFlow for the training-speed comparison)
$(BENCH_STAMP): pyproject.toml | $(STAMP)
	$(PY) -m pip install -e '.[test,demo,export,serve,bench]'
	touch $@

bench: install $(BENCH_STAMP)
	$(PY) bench/suite.py
