# vqlib: `make figures` regenerates every figure, `make test` runs every test. `make help` lists the rest.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SCALE ?= default
# FORCE=1: rerun every notebook even when nothing it depends on changed (see tools/run_notebook.py)
FORCE ?= 0
# Offline copies of CIFAR-10 and an ImageNet sample, used when present (see data/README.md).
SHARED_DATA ?= ../shared/data
# Each notebook is a jupytext percent script (the reviewed source) paired with its executed .ipynb.
NOTEBOOK_SOURCES := $(sort $(wildcard notebooks/[0-9][0-9]_*.py))
NOTEBOOKS := $(NOTEBOOK_SOURCES:.py=.ipynb)
# Two torch processes on two cores slow each other down many times over: pytest runs serially.
PYTEST := $(PY) -m pytest -p no:cacheprovider

# The same numbers on any x86-64 machine: every library computes with AVX2 kernels, whatever wider ones the CPU
# has (vqlib/arithmetic.py says which pin guards what; `import vqlib` sets them too, but numpy's OpenBLAS reads
# its pin when torch or numpy is first imported, so every process make starts gets them from here).
# VQLIB_NATIVE_ARITHMETIC=1 computes natively (faster on AVX-512; other last digits than the committed figures).
ifneq ($(VQLIB_NATIVE_ARITHMETIC),1)
ifneq ($(filter x86_64 amd64,$(shell uname -m)),)
export ATEN_CPU_CAPABILITY ?= avx2
export ONEDNN_MAX_CPU_ISA ?= AVX2
export MKL_CBWR ?= AVX2
export OPENBLAS_CORETYPE ?= Haswell
endif
endif

# Point vqlib at the unpacked offline copies unless the user already chose a source.
ifneq ($(wildcard $(SHARED_DATA)/cifar10-jpeg.tar.gz),)
export VQLIB_CIFAR10 ?= $(CURDIR)/data/cifar10-jpeg
endif
ifneq ($(wildcard $(SHARED_DATA)/imagenet-sample-256.tar),)
export VQLIB_IMAGENET ?= $(CURDIR)/data/imagenet-sample-256
endif

.PHONY: help setup lock data figures runs site test unit sync lab bench bench-memory bench-tracker bench-arithmetic stress-distributed gpu-check lint clean distclean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'
	@echo "  SCALE=smoke|default|paper   scale for 'make figures' (default: default)"
	@echo "  FORCE=1                     'make figures' reruns notebooks whose inputs did not change"
	@echo "  EXECUTOR=local|slurm|sequential   where 'make runs' computes (SLURM_ARGS=\"--partition gpu ...\")"
	@echo "  VQLIB_NATIVE_ARITHMETIC=1   compute with every instruction set the CPU has (faster on AVX-512; the"
	@echo "                              committed figures are AVX2 arithmetic, see README 'Reproducibility')"

setup: $(VENV)/.installed $(VENV)/.on-path ## create .venv once from requirements.lock (every version pinned, hashes checked)

# requirements.lock pins every package with its hashes for Linux x86-64 and CPython 3.11 (`make lock`
# refreshes it from pyproject.toml's ranges). torch is the CPU build: PyPI's Linux torch is a multi-gigabyte
# CUDA build, so it comes from PyTorch's CPU index (TORCH_INDEX), or from a local wheel folder pip is set up with.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
$(VENV)/.installed: pyproject.toml requirements.lock
	@echo "== make setup: a virtual environment in $(VENV) with exactly the versions of requirements.lock (about a minute)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "   1/4 pip"
	@$(PY) -m pip install --quiet --upgrade pip 2>&1 | grep -v "is ignored" || true
	@# torch first, with its locked hash, from the CPU index; then everything else exactly as locked.
	@awk '/^torch==/{p=1} p&&/^[a-z]/&&!/^torch==/{exit} p' requirements.lock > $(VENV)/torch.lock
	@echo "   2/4 torch (the CPU build, from $(TORCH_INDEX) or a local wheel)"
	@$(PY) -m pip install --quiet --retries 1 --require-hashes --no-deps --extra-index-url $(TORCH_INDEX) \
		-r $(VENV)/torch.lock 2>&1 | grep -v -E "is ignored|Retrying|Could not fetch|Failed to establish" || true
	@echo "   3/4 the other $$(grep -c '^[a-z]' requirements.lock) locked packages (hashes checked)"
	@$(PY) -m pip install --quiet --require-hashes --no-deps -r requirements.lock 2>&1 | grep -v "is ignored" || true
	@echo "   4/4 checking the environment against the lock"
	@$(PY) tools/check_lock.py requirements.lock
	@touch $@

# vqlib itself is this clone, put on the environment's path (a .pth file naming the repository): a plain path
# entry, so a folder named vqlib in the working directory (the clone itself, for a script beside it) cannot
# shadow the package, as it does with pip's default editable install. Edits and new modules take effect at once.
$(VENV)/.on-path: $(VENV)/.installed
	@$(PY) -m pip uninstall --quiet --yes vqlib 2>/dev/null || true
	@echo "$(CURDIR)" > "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/vqlib-clone.pth"
	@echo "   vqlib: this clone ($(CURDIR)) is on $(VENV)'s path; use $(PY) or 'source $(VENV)/bin/activate'"
	@touch $@

# LOCK_SOURCES: where the lock's resolver finds torch's CPU build (here: a local wheel folder, e.g.
# LOCK_SOURCES="--find-links /opt/wheels").
LOCK_SOURCES ?= --extra-index-url $(TORCH_INDEX) --index-strategy unsafe-best-match
lock: setup ## refresh requirements.lock from pyproject.toml (newest versions in its ranges), then `make setup`
	$(PY) -m pip install --quiet uv 2>&1 | grep -v "is ignored" || true
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 --override tools/lock-overrides.txt --generate-hashes \
		--custom-compile-command "make lock" $(LOCK_SOURCES) -o requirements.lock
	@echo "requirements.lock refreshed: run 'make setup' (then 'make test' and 'make figures FORCE=1')"

data: setup ## unpack the offline dataset copies into data/ when they exist (checksums verified)
	@$(PY) tools/local_data.py $(SHARED_DATA) data

figures: setup data ## run every notebook (its .py source) whose inputs changed through papermill at SCALE; rewrite figures/
	@start=$$(date +%s); for nb in $(NOTEBOOK_SOURCES); do \
		VQLIB_PROGRESS=0 $(PY) -m vqlib.studies.every_run --scale $(SCALE) --progress || true; \
		$(PY) tools/run_notebook.py $$nb --scale $(SCALE) $(if $(filter 1,$(FORCE)),--force,) || exit 1; done; \
	echo "== make figures SCALE=$(SCALE): $(words $(NOTEBOOK_SOURCES)) notebooks in $$(( $$(date +%s) - start )) s. Figures: \
	$(if $(filter default,$(SCALE)),figures/,figures/$(SCALE)/); executed notebooks: \
	$(if $(filter default,$(SCALE)),notebooks/*.ipynb,build/notebooks/$(SCALE)/)$(if $(filter smoke,$(SCALE)), \
	(smoke: tiny runs that prove the install and every notebook work end to end; their numbers mean nothing),)"

# make runs: where the runs are computed (local: one process per GPU or core; slurm: one SLURM job per run via
# submitit, VQLIB_CACHE on a shared filesystem; sequential: this process), and options for slurm
EXECUTOR ?= local
SLURM_ARGS ?=
runs: setup data ## compute every notebook's training runs at SCALE through EXECUTOR=local|slurm|sequential (then make figures)
	$(PY) -m vqlib.studies.every_run --scale $(SCALE) --executor $(EXECUTOR) $(SLURM_ARGS)

site: setup ## build/site/: every executed notebook and figure as static pages (nothing re-run; open build/site/index.html)
	$(PY) tools/build_site.py

test: setup data ## lint, unit tests (notebook pairs in sync), then every notebook at the smoke scale under nbval
	$(VENV)/bin/ruff check vqlib tests tools benchmarks notebooks
	VQLIB_SCALE=smoke VQLIB_PROGRESS=0 $(PYTEST) tests $(NOTEBOOKS) --nbval-lax -q

sync: setup ## after editing a notebooks/NN_name.py, update its .ipynb's cells to match (outputs kept)
	$(VENV)/bin/jupytext --update --to ipynb $(NOTEBOOK_SOURCES)

unit: setup ## unit tests only
	$(PYTEST) tests -q

# JupyterLab refuses to start as root (common in containers) unless told: pass --allow-root only then.
LAB_ARGS ?=
lab: setup data ## open the notebooks in JupyterLab (prints the URL to open; as root too)
	@# open the executed .ipynb; its .py twin (the reviewed source, kept in step by jupytext) is hidden here
	$(VENV)/bin/jupyter lab notebooks --no-browser $(if $(filter 0,$(shell id -u)),--allow-root,) \
		'--ContentsManager.hide_globs=["__pycache__", "*.pyc", ".ipynb_checkpoints", "[0-9][0-9]_*.py"]' $(LAB_ARGS)

bench: setup ## VQ layer speed and memory against vector-quantize-pytorch
	$(PY) benchmarks/bench_vq.py

bench-memory: setup ## peak process memory of a 128x128 training run on 2,000 vs 20,000 generated images
	$(PY) benchmarks/bench_memory.py

bench-arithmetic: setup ## which instruction-set pins each kind of result needs, and their speed cost (AVX-512 CPUs)
	$(PY) benchmarks/bench_arithmetic.py

stress-distributed: setup ## launch a 2-process run 50 times in a row and count failed launches (LAUNCHES=50)
	$(PY) tools/stress_distributed.py --launches $(or $(LAUNCHES),50)

bench-tracker: setup ## cost of vqlib.diagnose.UsageTracker.update against a training step (seconds)
	$(PY) benchmarks/bench_tracker.py

gpu-check: setup data ## paper-scale code path for a few minutes on the GPU: steps/s, memory, projected hours
	$(PY) tools/gpu_check.py $(GPU_CHECK_ARGS)

lint: setup ## ruff over the library, tests, tools and notebooks
	$(VENV)/bin/ruff check vqlib tests tools benchmarks notebooks

clean: ## remove the run cache, smoke-scale outputs and build files (keeps .venv and downloads)
	rm -rf data/cache build figures/smoke figures/paper/.*.tmp
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean ## also remove .venv and everything under data/ except its README
	rm -rf $(VENV) data/cifar10-jpeg data/imagenet-sample-256 data/cifar-10-python.tar.gz
