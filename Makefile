# Two entry points, each setting up everything it needs first (system packages, then .venv):
#   make run [FILE=particles.star] [ARGS="--map ref.mrc"]   install, then open the inspector
#                                                           (the bundled demo without FILE)
#   make test                                               install, then run the tests (CI)
# System packages (packaging/system-packages.sh): Qt's X libraries for `run`, RELION for `test`;
# installed when missing as root, named in one line for a user.
# TORCH / TORCH_INDEX choose the torch build (README: "torch: CPU or CUDA").
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
FILE ?=
ARGS ?=
TORCH ?= torch==2.13.0
TORCH_INDEX ?=

.PHONY: run test bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	# torch first and pinned (2.13.0 resolves to the local CPU wheel here), so the project's own
	# dependencies cannot pull another build; TORCH_INDEX picks a CPU or CUDA build elsewhere
	$(PY) -m pip install --quiet $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

run:
	@sh packaging/system-packages.sh run
	@$(MAKE) --no-print-directory $(STAMP)
	$(VENV)/bin/gan-viewer gui $(FILE) $(ARGS)

test:
	@sh packaging/system-packages.sh test
	@$(MAKE) --no-print-directory $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/bench_io.py

clean:
	rm -rf $(VENV) build dist *.egg-info
