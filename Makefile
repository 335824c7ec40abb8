# Face Embedding Atlas. `make report` builds the demo study; `make test` runs the tests.
SHELL  := /bin/bash
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CONFIG ?= configs/demo.toml

.PHONY: report test setup setup-dev setup-gpu check-devices system system-browser bench clean

report: setup system
	$(BIN)/python build_report.py --config $(CONFIG)

test: setup-dev system-browser
	$(BIN)/python -m pytest

setup: $(VENV)/.installed .vendor/mathjax/es5/tex-chtml.js

setup-dev: setup $(VENV)/.installed-dev

# After `make setup-gpu` ($(VENV)/.gpu exists) the CPU onnxruntime pin is skipped and the GPU build
# is put back, so a later `make setup` never silently returns to the CPU build.
$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	if [ -f $(VENV)/.gpu ]; then \
	  $(BIN)/python -m pip install -q -r <(grep -vE '^onnxruntime==' requirements.txt) && \
	  scripts/install_gpu_runtime.sh $(BIN)/python; \
	else \
	  $(BIN)/python -m pip install -q -r requirements.txt; \
	fi
	touch $@

# GPU build of onnxruntime (requirements-gpu.txt) in place of the CPU one; then check the GPUs.
setup-gpu: setup $(VENV)/.installed-gpu

$(VENV)/.installed-gpu: $(VENV)/.installed requirements-gpu.txt
	scripts/install_gpu_runtime.sh $(BIN)/python
	touch $(VENV)/.gpu $@
	$(BIN)/python build_report.py --check-devices

check-devices: setup
	$(BIN)/python build_report.py --check-devices

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	touch $@

.vendor/mathjax/es5/tex-chtml.js:
	scripts/vendor_mathjax.sh

system:
	scripts/install_system_deps.sh

system-browser:
	scripts/install_system_deps.sh --browser

bench: setup-dev
	$(BIN)/python bench/bench_analyses.py --quick
	$(BIN)/python bench/bench_extract.py

clean:  # only what the demo build writes (listed in its .atlas-manifest.json) and the cache
	rm -rf docs site paper overrides mkdocs.yml .site-inputs.sha256 .atlas-manifest.json .atlas.lock .cache
