# Two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
OUT ?= out/demo.wav
TEXT ?= Hello! This is voxport, speaking with the Joe voice through its own split graphs. On March 3rd, a coffee costs $$4.50.

.PHONY: demo test lint bench clean install install-dev

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# torch is pinned to the CPU build that lies on these machines; other versions pull GBs of CUDA.
	$(PIP) install --quiet -e '.[export]'
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: install
	$(VENV)/bin/voxport build
	$(VENV)/bin/voxport speak '$(TEXT)' -o $(OUT) --seed 0

test: install-dev
	$(PY) -m pytest -q

lint: install-dev
	$(VENV)/bin/ruff check .

bench: install
	$(PY) benchmarks/split_vs_monolith.py

clean:
	rm -rf $(VENV) build dist *.egg-info out
