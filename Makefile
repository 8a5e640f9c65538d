# Two front-door targets: `make demo` and `make test`. Both create .venv and install on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
export HF_HUB_OFFLINE := 1

.PHONY: install demo test bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	# torch first: the CPU wheel on disk; an unpinned torch would pull a multi-GB CUDA build
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/tixel train examples/digits-cnn.yaml --set output.name=demo --set output.overwrite=true --no-progress
	$(VENV)/bin/tixel evaluate runs/demo
	$(PY) examples/digits_to_png.py runs/demo/samples 6
	$(VENV)/bin/tixel predict runs/demo runs/demo/samples/*.png
	@echo "report and plots: runs/demo/report/ (report.txt, report.json, confusion_matrix.png, learning_curve.png)"
	@echo "bundle: runs/demo/bundle/"

test: $(STAMP)
	$(VENV)/bin/lint-imports
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) benchmarks/train_overhead.py

clean:
	rm -rf runs .pytest_cache
