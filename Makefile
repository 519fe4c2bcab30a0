# The lab's face: `make bench` and `make test` are all a newcomer needs (see README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
BENCH_ARGS ?=
TEST_ARGS ?=
RUN ?= results/latest
COMPOSE_UP_ARGS ?=
SERVERS ?=
REQUIREMENTS := requirements.txt $(wildcard requirements/*.txt constraints.txt)
STAMP := $(VENV)/.installed-$(shell cat $(REQUIREMENTS) | cksum | cut -d' ' -f1)
# `docker compose` (v2) where installed, else the older `docker-compose` (v1): both read the same file.
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)

.PHONY: help setup system-deps lock bench reference test test-docker report clean images images-offline up down
.DEFAULT_GOAL := help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 16

system-deps: ## install Debian packages the lab needs (libev-dev for bjoern), when permitted
	@scripts/system-deps.sh

setup: $(STAMP) ## create .venv with requirements.txt, every package at its constraints.txt version

$(STAMP): $(REQUIREMENTS) scripts/system-deps.sh
	@scripts/system-deps.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip -c constraints.txt
	@$(BIN)/pip install --quiet -r requirements.txt -c constraints.txt || { \
	  echo "setup: bjoern could not be built (it needs libev: apt-get install libev-dev);" \
	       "installing everything else, bench runs will report bjoern as unavailable" >&2; \
	  cat requirements.txt requirements/*.txt | grep -v '^bjoern\|^-r ' | \
	    $(BIN)/pip install --quiet -r /dev/stdin -c constraints.txt; }
	@rm -f $(VENV)/.installed-*
	@touch $@

lock: ## re-resolve requirements.txt in a clean venv and pin every package in constraints.txt
	@scripts/system-deps.sh
	PYTHON=$(PYTHON) scripts/lock.sh

bench: setup ## run the benchmark on local processes; pass options as BENCH_ARGS="--users 64"
	$(BIN)/python -m lab bench $(BENCH_ARGS)

REFERENCE_SCENARIOS ?= plaintext,json,home,signin,mixed,io,cpu,large,upload
reference: setup ## a full default run plus the workload scenarios into results/reference/ (results.json, report.md, SVG charts), then README's quote
	$(BIN)/python -m lab bench --scenarios $(REFERENCE_SCENARIOS) --compare-scenarios all --out results/reference-runs $(BENCH_ARGS)
	rm -rf results/reference && mkdir -p results/reference
	cp results/reference-runs/latest/results.json results/reference/
	$(BIN)/python -m lab report results/reference
	rm -f results/reference/report.html
	$(BIN)/python -m lab.report.readme results/reference --write README.md

test: setup ## run the test suite (real servers on 127.0.0.1, real locust); Docker runs are test-docker
	$(BIN)/python -m pytest -m "not docker" $(TEST_ARGS)

test-docker: setup ## build the images and run the compose stack on the real Docker engine
	$(BIN)/python -m pytest -m docker $(TEST_ARGS)

report: setup ## re-render the reports of a run: make report RUN=results/<run>
	$(BIN)/python -m lab report $(RUN)

images: ## build the server and runner images from the public Python image and PyPI (what real users do)
	$(COMPOSE) build

images-offline: ## build both images with no registry and no PyPI in containers (debootstrap base + host wheels)
	scripts/images-offline.sh

up: ## run the comparison in containers, watch it on :8088; SERVERS=all for every configuration
	@mkdir -p $${LAB_RESULTS:-results}
	$(if $(SERVERS),BENCH_SERVERS=$(SERVERS) )$(COMPOSE) up $(COMPOSE_UP_ARGS)
	@code=$$(docker inspect -f '{{.State.ExitCode}}' $$($(COMPOSE) ps -a -q runner)); \
	  echo "runner exited with code $$code"; exit $$code

down: ## remove the containers and the network of the compose project
	$(COMPOSE) down --remove-orphans

clean: ## remove the virtualenv, caches and results
	rm -rf $(VENV) .pytest_cache wheels
	find results -mindepth 1 -not -name .gitkeep -delete 2>/dev/null || true
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
