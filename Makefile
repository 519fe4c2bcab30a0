# The lab's face: `make bench` and `make test` are all a newcomer needs (see README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
BENCH_ARGS ?=
TEST_ARGS ?=
RUN ?= results/latest
STAMP := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)

.PHONY: help setup system-deps bench test report clean
.DEFAULT_GOAL := help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 16

system-deps: ## install Debian packages the lab needs (libev-dev for bjoern), when permitted
	@scripts/system-deps.sh

setup: $(STAMP) ## create .venv with the pinned dependencies of requirements.txt

$(STAMP): requirements.txt scripts/system-deps.sh
	@scripts/system-deps.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	@$(BIN)/pip install --quiet -r requirements.txt || { \
	  echo "setup: bjoern could not be built (it needs libev: apt-get install libev-dev);" \
	       "installing everything else, bench runs will report bjoern as unavailable" >&2; \
	  grep -v '^bjoern' requirements.txt | $(BIN)/pip install --quiet -r /dev/stdin; }
	@rm -f $(VENV)/.installed-*
	@touch $@

bench: setup ## run the benchmark on local processes; pass options as BENCH_ARGS="--users 64"
	$(BIN)/python -m lab bench $(BENCH_ARGS)

test: setup ## run the test suite (real servers on 127.0.0.1, real locust)
	$(BIN)/python -m pytest $(TEST_ARGS)

report: setup ## re-render the reports of a run: make report RUN=results/<run>
	$(BIN)/python -m lab report $(RUN)

clean: ## remove the virtualenv, caches and results
	rm -rf $(VENV) .pytest_cache results
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
