# colorlab: `make help` lists the targets.
VENV ?= .venv
PY := $(VENV)/bin/python
# From PyPI, torch 2.14.1 is the CUDA build: with its ~15 nvidia-* wheels the venv is ~6.8 GB, GPU or not.
# On a CPU-only machine, TORCH_INDEX=https://download.pytorch.org/whl/cpu takes the CPU-only build
# (a ~0.2 GB wheel, no nvidia-* wheels) from PyTorch's own index, where the machine can reach it.
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1
TORCH_INDEX ?=
# The suite's test files run in this many processes (pytest-xdist); 0 runs them in pytest's own.
TEST_WORKERS ?= 2
TORCH_FROM := $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX),)
STAMP := $(VENV)/.installed
NOW := $(shell date +%Y-%m-%d_%H-%M-%S)

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_FROM) $(TORCH_PINS)
	$(PY) -m pip install -q -e '.[dev]' $(TORCH_PINS)
	touch $@

install: $(STAMP) ## create .venv and install colorlab with its test tools (make TORCH_INDEX=... for a CPU-only torch)

demo: $(STAMP) ## train + compare the three decoders on the embedded sample (CPU, offline, ~7 min)
	$(PY) -m colorlab.train -m experiment=demo model=baseline,batchnorm,dropout hydra.sweep.dir=outputs/multirun/demo-$(NOW)
	$(PY) -m colorlab.compare runs=outputs/multirun/demo-$(NOW)
	@echo "report: outputs/multirun/demo-$(NOW)/report/report.html"
	@echo "logs:   $(VENV)/bin/tensorboard --logdir outputs/multirun/demo-$(NOW)"

test: $(STAMP) ## run the default (fast, offline) test suite, test files shared by TEST_WORKERS processes
	$(PY) -m pytest -q -rs -n $(TEST_WORKERS) --dist worksteal
	@command -v chromedriver >/dev/null || echo "note: the browser tests were skipped: install Chromium (Debian: apt-get install chromium chromium-driver) to run them"

test-slow: $(STAMP) ## run the slow tests too
	$(PY) -m pytest -q -m "slow or not slow"

readme: $(STAMP) ## run every command the README shows, as a user types them (a few minutes)
	$(PY) -m pytest -q -m "slow or not slow" tests/test_readme.py

lint: $(STAMP) ## ruff check and format check
	$(VENV)/bin/ruff check colorlab tests benchmarks scripts
	$(VENV)/bin/ruff format --check colorlab tests benchmarks scripts

docs: $(STAMP) ## build the documentation site into site/ (offline; strict: any warning fails)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

tensorboard: $(STAMP) ## open TensorBoard on all runs under outputs/
	$(VENV)/bin/tensorboard --logdir outputs

clean: ## remove outputs/ (runs and logs)
	rm -rf outputs

.PHONY: help install demo test test-slow readme lint docs tensorboard clean
