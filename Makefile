# Face Embedding Atlas. `make report` builds the demo study; `make test` runs the tests.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CONFIG ?= configs/demo.toml

.PHONY: report test setup setup-dev system system-browser bench clean

report: setup system
	$(BIN)/python build_report.py --config $(CONFIG)

test: setup-dev system-browser
	$(BIN)/python -m pytest

setup: $(VENV)/.installed .vendor/mathjax/es5/tex-chtml.js

setup-dev: setup $(VENV)/.installed-dev

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	touch $@

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

clean:
	rm -rf build/demo .cache
