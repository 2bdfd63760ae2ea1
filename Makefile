# Two commands on a fresh machine with only python3: `make demo`, `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench venv clean docs min-deps warm

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	# torch 2.13.0 is a CPU build that lies on this machine's disk; a newer one pulls GBs of CUDA wheels.
	$(BIN)/python -m pip install "torch==2.13.0"
	$(BIN)/python -m pip install -e ".[torch,pot,dev,docs]"
	# compile the numba kernels into their on-disk cache now, not at the user's first build_tree
	$(BIN)/python -m topotree._warmup
	touch $(STAMP)

venv: $(STAMP)

# (re)compile the numba kernels into the cache, e.g. after an upgrade of numba
warm: $(STAMP)
	$(BIN)/python -m topotree._warmup

demo: $(STAMP)
	$(BIN)/topotree demo

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist worksteal -q -rs

# the API reference from the docstrings (pdoc); any warning fails the build
DOC_MODULES := topotree topotree.build topotree.tree topotree.compare topotree.estimator topotree.plot \
	topotree.datasets topotree.density topotree.graph topotree.cli topotree.adapters
docs: $(STAMP)
	rm -rf docs/api
	$(BIN)/python -W error docs/build_api.py --docformat numpy -o docs/api $(DOC_MODULES)
	@echo "API reference written to docs/api/index.html"

# the lowest dependency versions pyproject.toml allows, in a separate venv (.venv-min), on a test subset
min-deps:
	PYTHON=$(PYTHON) .ci/min-deps

# the peers of benchmarks/bench_tree.py (the `bench` extra: pynndescent, faiss-cpu, fast_hdbscan, hdbscan)
BENCH_STAMP := $(VENV)/.installed-bench
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install -e ".[bench]"
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python benchmarks/bench_tree.py

clean:
	rm -rf $(VENV) .venv-min demo-output .pytest_cache docs/api
