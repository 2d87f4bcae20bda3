# hookline: the entry points people and CI type. See README.md.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

GO      ?= go
STACK   ?= dev
# Go packages that never import Pulumi: cheap to build, tested with -race.
APP_PKGS := ./internal/... ./lambda/... ./logship/... ./processor/... ./dashboards/...

.PHONY: help services test actionlint test-app test-infra lint local bench soak build plan plan-diff preview up deploy image fuzz simulate broker-wait broker-reconcile broker-roll config-doc fresh-machine topology docs

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

services: ## make sure RabbitMQ, Redis and MariaDB run on loopback (start or install them if not)
	@bash scripts/services.sh

test: services lint actionlint test-app test-infra ## every test: unit, integration (real services), Pulumi mocks

# golangci-lint is pinned in its own module (tools/golangci-lint/go.mod), so
# its dependencies stay out of go.mod. infra/ type-checks the Pulumi AWS SDK:
# LINT_JOBS bounds the parallelism (and so the memory) of that run.
LINT_JOBS ?= 2
GOLANGCI_LINT := $(GO) tool -modfile=tools/golangci-lint/go.mod golangci-lint

lint: ## gofmt, go vet and golangci-lint (.golangci.yml) over the whole module, infra included
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	nice $(GO) vet ./...
	nice $(GOLANGCI_LINT) run -j $(LINT_JOBS) ./...

actionlint: ## lint .github/workflows with the pinned actionlint; a deliberately broken workflow must fail
	@GO=$(GO) bash scripts/actionlint.sh

test-app: services
	$(GO) test -race -count=1 -timeout 20m $(APP_PKGS)

test-infra:
	@if [ -d infra ] && ls infra/*.go >/dev/null 2>&1; then bash scripts/ensure-shellcheck.sh && $(GO) test -count=1 -timeout 20m ./infra/...; fi

plan: ## offline plan, no credentials: build/plan/$(STACK).json + resource counts (STACK=dev|prod; SET='hookline:broker.nodes=3' changes config fields)
	$(GO) run ./infra/plan/cmd/plan -stack $(STACK) $(foreach s,$(SET),-set '$(s)')

config-doc: ## regenerate docs/config.md, the table of every stack config key, from infra/config and the stack files
	$(GO) run ./infra/config/cmd/configdoc

topology: ## docs/topology.dot from the prod offline plan, rendered to docs/topology.svg (Graphviz: installed with apt-get when missing and root, else required)
	@GO=$(GO) bash scripts/topology.sh prod

docs: config-doc topology ## regenerate every generated doc (docs/config.md, docs/topology.dot and .svg)

simulate: ## replay load traces through the plan's scaling rules: build/simulate/<trace>.json + .png and a table (TRACE=file.csv, STACK=dev|prod, PER_TASK=msgs/s)
	$(GO) run ./infra/scaling/cmd/simulate -stack $(STACK) $(if $(TRACE),-trace $(TRACE)) $(if $(PER_TASK),-per-task $(PER_TASK))

plan-diff: ## resources added/removed/changed against git REF (default HEAD): STACK=dev REF=main
	@GO=$(GO) bash scripts/plan-diff.sh $(STACK) $(or $(REF),HEAD)

preview: build ## real Pulumi preview of STACK (CLI + AWS credentials)
	pulumi preview --stack $(STACK)

up: build ## real pulumi up of STACK with the image digests recorded in Pulumi.<stack>.yaml
	pulumi up --stack $(STACK)

image: ## processor image with ko (arm64, distroless nonroot, SBOM) pushed to STACK's ECR repository; prints its digest
	@GO=$(GO) bash scripts/image.sh $(STACK)

deploy: ## build, image, migrate, pulumi up: one command, also on an empty account (STACK=dev|prod)
	@GO=$(GO) bash scripts/deploy.sh $(STACK)

broker-wait: ## every broker node of STACK ready and accepting connections (docs/broker.md)
	@bash scripts/broker.sh wait $(STACK)

broker-reconcile: ## apply users, passwords and definitions on STACK's running broker nodes
	@bash scripts/broker.sh reconcile $(STACK)

broker-roll: ## replace STACK's broker nodes one at a time (new image, user data, instance type)
	@bash scripts/broker.sh roll $(STACK)

local: services ## run the pipeline locally and send a signed demo webhook
	@bash scripts/local.sh

fresh-machine: ## prove `make local` on a Debian root with none of the services, in its own network namespace (root; minutes; not in make test)
	@bash scripts/fresh-machine.sh

bench: services ## benchmarks, each figure next to its baseline from the same run
	@bash scripts/bench.sh

soak: services ## receiver → RabbitMQ → processor → MariaDB for SOAK_DURATION (default 10m) at half the measured peak (SOAK_RATE), with faults; loopback only
	SOAK_DURATION=$(or $(SOAK_DURATION),10m) $(GO) test -count=1 -run '^TestSoak$$' -v -timeout 60m ./processor/e2e/

build: ## build/lambda/bootstrap.zip, build/lambda/canary.zip and build/lambda/logship.zip (linux/arm64) and build/processor
	@mkdir -p build/lambda/canary build/lambda/logship
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w -buildid=' -o build/lambda/bootstrap ./lambda
	$(GO) run ./scripts/lambdazip -o build/lambda/bootstrap.zip build/lambda/bootstrap
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w -buildid=' -o build/lambda/canary/bootstrap ./lambda/canary
	$(GO) run ./scripts/lambdazip -o build/lambda/canary.zip build/lambda/canary/bootstrap
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w -buildid=' -o build/lambda/logship/bootstrap ./logship
	$(GO) run ./scripts/lambdazip -o build/lambda/logship.zip build/lambda/logship/bootstrap
	@if [ -f processor/main.go ]; then CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -trimpath -ldflags='-s -w -buildid=' -o build/processor ./processor; fi
	@ls -l build/lambda/bootstrap.zip build/lambda/canary.zip build/lambda/logship.zip

fuzz: ## run each fuzz target for FUZZTIME (default 20s)
	@bash scripts/fuzz.sh $(FUZZTIME)
