# Vigil — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

GO       ?= go
BIN      := bin
MODULES  := pkg schemas services/shipper services/processor services/archiver services/pager services/vigil services/grafana-datasource
SERVICES := shipper processor archiver pager
# Modules that build alone (GOWORK=off) in `make check`.
STANDALONE := $(SERVICES) vigil grafana-datasource
PKGS     := $(addsuffix /...,$(addprefix ./,$(MODULES)))

# The test ClickHouse runs on its own ports and data directory, so tests
# never touch a running stack. Override TEST_CH_TCP/TEST_CH_HTTP to run
# several test servers side by side.
TEST_CH_DIR  := $(CURDIR)/var/test/clickhouse
TEST_CH_TCP  ?= 19000
TEST_CH_HTTP ?= 18123
TEST_CH_ENV  := VIGIL_CH_DIR=$(TEST_CH_DIR) VIGIL_CH_TCP_PORT=$(TEST_CH_TCP) VIGIL_CH_HTTP_PORT=$(TEST_CH_HTTP)
CH           := deploy/clickhouse/clickhouse.sh

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*?## "} /^[a-zA-Z_-]+:.*?## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build every binary into bin/
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/vigil ./services/vigil/cmd/vigil
	@for s in $(SERVICES); do $(GO) build -o $(BIN)/vigil-$$s ./services/$$s/cmd/vigil-$$s || exit 1; done

.PHONY: up
up: build ## Run the whole stack on embedded defaults (installs ClickHouse if needed); Ctrl-C stops it
	$(BIN)/vigil up

.PHONY: test
test: ## Run every test against a real local ClickHouse and the embedded broker (installs ClickHouse if needed)
	@$(TEST_CH_ENV) bash $(CH) start
	@trap '$(TEST_CH_ENV) bash $(CH) stop >/dev/null' EXIT; \
	  $(MAKE) --no-print-directory check && \
	  VIGIL_TEST_CLICKHOUSE=127.0.0.1:$(TEST_CH_TCP) VIGIL_TEST_REQUIRE=1 \
	    $(GO) test -count=1 -timeout 15m $(PKGS)

.PHONY: check
check: ## gofmt, go vet, tidy go.mod files, and each service building alone (GOWORK=off)
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	@for m in $(MODULES); do \
	  (cd $$m && GOWORK=off $(GO) mod tidy && \
	   if ! git diff --quiet -- go.mod go.sum 2>/dev/null; then \
	     echo "$$m: go mod tidy changes go.mod/go.sum"; git --no-pager diff --stat -- go.mod go.sum; exit 1; fi) || exit 1; \
	done
	@for s in $(STANDALONE); do (cd services/$$s && GOWORK=off $(GO) build ./...) || exit 1; done
	@if command -v docker-compose >/dev/null; then docker-compose -f docker-compose.yml config -q && echo "docker-compose.yml: valid"; fi
	@echo "check: ok"

.PHONY: eval
eval: ## Measure every detection profile on the labelled synthetic benchmark (precision, recall, time to detect)
	$(GO) run ./services/vigil/cmd/vigil eval

.PHONY: bench
bench: ## Benchmarks (end to end, archiver vs clickhouse-client, forensic lookups, event decoding, detection engine, processor instances and restore, metric detector); prints BENCH lines
	@$(TEST_CH_ENV) bash $(CH) start >/dev/null
	@trap '$(TEST_CH_ENV) bash $(CH) stop >/dev/null' EXIT; set -o pipefail; \
	  VIGIL_TEST_CLICKHOUSE=127.0.0.1:$(TEST_CH_TCP) VIGIL_TEST_REQUIRE=1 \
	    $(GO) test -count=1 -run '^$$' -bench . -benchtime 1x -timeout 30m ./pkg/event/ ./pkg/series/ ./pkg/detect/ ./pkg/evalset/ ./services/processor/ ./services/archiver/... ./services/vigil/... \
	    | grep -E '^(BENCH|# |ok|FAIL|---)'

.PHONY: plugin
plugin: ## Build the Grafana plugin package (backend for 4 platforms + frontend; npm registry the first time) into services/grafana-datasource/dist
	bash services/grafana-datasource/build.sh

.PHONY: plugin-backend
plugin-backend: ## Build only the Grafana plugin's backend executables and plugin.json into services/grafana-datasource/dist (no npm)
	bash services/grafana-datasource/build.sh backend

.PHONY: compose-config
compose-config: ## Validate docker-compose.yml (needs docker-compose)
	docker-compose -f docker-compose.yml config -q

.PHONY: clickhouse-stop
clickhouse-stop: ## Stop the local ClickHouse (if `make up` was killed before it could)
	bash $(CH) stop

.PHONY: clean
clean: ## Remove binaries and local state (var/), stopping local servers first
	-bash $(CH) stop
	-$(TEST_CH_ENV) bash $(CH) stop
	rm -rf $(BIN) var
