# edgeai.slm_fleet: two commands for a fresh machine, `make demo` and `make test`.
# Every target is idempotent and cheap to re-run.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PYTHON ?= python3
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
SITE ?= lab

.PHONY: help venv collections docker images lab-model lab-up lab-down fleet-rollout demo lint test ee test-ee test-pull bench-scale bench-llamacpp clean

help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

venv: $(VENV)/.installed ## Create the virtualenv with the pinned toolchain and the engine's build/test set.
$(VENV)/.installed: requirements.txt requirements-engine.txt engine/pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -r requirements.txt -r requirements-engine.txt
	@touch $@

collections: venv ## Install community.docker, ansible.posix, community.general (no Galaxy needed).
	@scripts/install-collections.sh

docker: ## Make sure a Docker engine with the Compose v2 plugin is running (installs it as root).
	@scripts/ensure-docker.sh

images: docker ## Build the base, edge-host, busybox, Ollama API emulator and vLLM CPU images locally (no registry needed).
	@images/build.sh

LAB_MODEL := .cache/lab/tiny-phi3-hf
lab-model: $(LAB_MODEL)/config.json ## Generate the lab's tiny random-weight Phi-3 checkpoint.
$(LAB_MODEL)/config.json: tests/fixtures/tiny_phi3.py | venv
	$(VENV)/bin/python tests/fixtures/tiny_phi3.py --size tiny --out $(LAB_MODEL)

SITE ?= lab
lab-up: collections images ## Create a lab site's hosts: SITE=lab (default) or SITE=edge (systemd containers reached over SSH).
	@scripts/fetch-debian-plugin.sh docker-compose >/dev/null
	ansible-playbook lab/lab.yml -i inventories/$(SITE) -e lab_state=present

lab-down: collections ## Remove a lab site's hosts and their volumes (SITE=lab or SITE=edge).
	ansible-playbook lab/lab.yml -i inventories/$(SITE) -e lab_state=absent

SITES ?= inventories/edge
fleet-rollout: collections ## Roll the release out over SITES in order, stop at the first that aborts; index in artifacts/fleet/.
	$(VENV)/bin/python scripts/fleet-rollout.py $(SITES)

demo: docker lab-up lab-model ## Run site.yml against the lab site (the main job, on one machine).
	ansible-playbook site.yml -i inventories/lab
	ansible-playbook playbooks/ask.yml -i inventories/lab
	@$(VENV)/bin/python scripts/site-summary.py artifacts/sites/lab

ee: images venv ## Build the execution environment slm-fleet/ee:<version> (ansible-builder; skipped when its recipe is unchanged).
	@nice -n 10 scripts/build-ee.sh

test-ee: ee lab-model ## Run site.yml inside the execution environment with ansible-runner (~25 min; make test runs its preflight subset).
	@scripts/fetch-debian-plugin.sh docker-compose >/dev/null
	$(VENV)/bin/pytest -q tests/integration/test_ee_site.py

test-pull: docker collections images lab-model ## Only the pull agent's lab test: a gateway converges itself with ansible-pull from a lab git repository (~5-11 min).
	@scripts/fetch-debian-plugin.sh docker-compose >/dev/null
	$(VENV)/bin/pytest -q tests/integration/test_pull_agent.py

BENCH_SIZES ?= 10,50,100
bench-scale: collections ## Controller cost per host-task at 10/50/100 SSH hosts, main vs this tree (creates and removes scale-bench-*).
	nice -n 10 $(VENV)/bin/python bench/scale_host_tasks.py --sizes $(BENCH_SIZES)

bench-llamacpp: venv ## slm-engine against llama.cpp on the bench checkpoint (first run builds llama-cpp-python 0.3.36 into .cache/llamacpp, ~6 min).
	nice -n 10 $(VENV)/bin/python bench/engine_vs_llamacpp.py --rounds 3 $(BENCH_LLAMACPP_ARGS)

lint: collections ## yamllint, ansible-lint (production profile), syntax check of every playbook, ansible-test sanity.
	@scripts/test.sh lint

test: docker collections images lab-model ## Lint, unit and integration tests, every molecule scenario.
	@scripts/ensure-test-tools.sh
	@scripts/fetch-debian-plugin.sh docker-compose >/dev/null
	@scripts/test.sh

clean: ## Remove both lab sites, the venv, installed collections and caches.
	-$(MAKE) lab-down SITE=lab
	-$(MAKE) lab-down SITE=edge
	rm -rf $(VENV) .cache artifacts
	find collections -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
