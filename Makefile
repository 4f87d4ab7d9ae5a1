# Two entry points, each setting up everything it needs in .venv first:
#   make run [FILE=particles.star] [ARGS="--map ref.mrc"]   install, then open the inspector
#                                                           (the bundled demo without FILE)
#   make test                                               install, then run the tests (CI)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
FILE ?=
ARGS ?=

.PHONY: run test bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	# torch first, pinned: 2.13.0 resolves to the local CPU wheel here (any other spec pulls CUDA)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/gan-viewer gui $(FILE) $(ARGS)

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/bench_io.py

clean:
	rm -rf $(VENV) build dist *.egg-info
