# FSMDE Studio. `make run` (the app on the bundled sample scenes) and `make test` set up
# everything they need: system packages (as root), .venv with the pinned stack, sample data.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SAMPLE := resources/sample_scenes
SAMPLE_STAMP := $(SAMPLE)/.complete
XVFB := xvfb-run -a -s "-screen 0 1600x1000x24"
export PIP_DISABLE_PIP_VERSION_CHECK=1

.PHONY: run test bench models sample setup clean-sample

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@scripts/ensure_system_packages.sh
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	@touch $(STAMP)

sample: $(SAMPLE_STAMP)

$(SAMPLE_STAMP): $(STAMP)
	$(PY) -m fsmde_gui.cli generate --out $(SAMPLE) --preset sample --seed 0

run: $(STAMP) $(SAMPLE_STAMP)
	@if [ -n "$$DISPLAY" ]; then $(PY) main.py; \
	else echo "No DISPLAY: rendering the app under Xvfb to out/app.png"; mkdir -p out; \
	$(XVFB) $(PY) main.py --screenshot out/app.png && echo "wrote out/app.png"; fi

test: $(STAMP) $(SAMPLE_STAMP)
	$(XVFB) $(PY) -m pytest -q -p no:cacheprovider --timeout=600

bench: $(STAMP) $(SAMPLE_STAMP)
	$(PY) -m benchmarks.run_all

models: $(STAMP)
	$(PY) -m fsmde_gui.cli models --out models

clean-sample:
	rm -rf $(SAMPLE)
