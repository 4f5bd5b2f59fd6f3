# contactsync – build, test and demo.
#
# `./...` does not work at a go.work root, so every target loops over the
# workspace modules listed in MODULES (kept equal to go.work by `make work-check`).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

MODULES := schemas pkg services/ingest services/matcher services/router services/kickouts services/gateway services/contactsync services/demo
# The production binaries; the demo (services/demo) is not one of them.
SERVICES := ingest matcher router kickouts gateway contactsync
# Test fakes that only the demo and tests may link (`make deps-check`).
TEST_ONLY_DEPS := github.com/twmb/franz-go/pkg/kfake github.com/alicebob/miniredis
HARNESS := deploy/harness/harness.sh
FEBRL := $(abspath ../shared/data/febrl)
STATICCHECK_VERSION := v0.8.2
# Where `go install` puts staticcheck ($PATH may hold another one, or none).
STATICCHECK := $(or $(shell go env GOBIN),$(shell go env GOPATH)/bin)/staticcheck
# `contactsync version` (pkg/cli); without them the binary reports what Go recorded.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X github.com/contactsync/contactsync/pkg/cli.version=$(VERSION) -X github.com/contactsync/contactsync/pkg/cli.commit=$(COMMIT)
GO_TEST_FLAGS ?= -race -count=1 -timeout 20m
# The fault suite kills and restarts the shared broker and Redis, which would
# break tests of other packages running at that moment, and it measures
# recovery, which CPU contention from them distorts: it runs alone, after them.
FAULT_SUITE := ^TestExactlyOnceUnderFaults$$
BENCH_FLAGS ?= -run '^$$' -bench . -benchmem -count 1
# Tools of `make deploy-check`, installed on first use into .cache/tools:
# helm from the Go module proxy, promtool out of Debian's prometheus package
# (only that binary is unpacked; no server is installed or started).
TOOLS := $(CURDIR)/.cache/tools
HELM_VERSION := v3.22.0
HELM := $(TOOLS)/helm-$(HELM_VERSION)/helm
PROMTOOL := $(TOOLS)/promtool/usr/bin/promtool
# The deploy files checked against the code (services/contactsync).
DEPLOY_TESTS := ^(TestComposeFileMatchesTheCode|TestDockerfileBuildsTheOneImage|TestHelmChartRendersValidManifests|TestHelmChartRunsTheAppliers|TestAlertRulesUseMetricsOfTheCode|TestGrafanaDashboardUsesKnownMetrics)$$

.PHONY: help
help: ## list targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

.PHONY: build
build: ## build every production binary into bin/, stamped with VERSION and COMMIT
	@mkdir -p bin
	@for s in $(SERVICES); do (cd services/$$s && go build -ldflags '$(LDFLAGS)' -o ../../bin/$$s .); done
	@echo "built: $$(ls bin | tr '\n' ' ')"

.PHONY: demo
demo: ## run the whole pipeline in-process on kfake + miniredis with generated data (its own binary, services/demo)
	cd services/demo && go run . $(DEMO_ARGS)

.PHONY: test
test: ## start real Kafka, Redis and PostgreSQL (installing them if needed), run every test, stop what was started
	@session="make-test-$$$$"; \
	trap 'HARNESS_SESSION=$$session $(HARNESS) down' EXIT; \
	HARNESS_SESSION=$$session $(HARNESS) up; \
	deploy/harness/browser-deps.sh; \
	source .harness/env; \
	export CI=$${CI:-true}; \
	export CS_SCREENSHOT_DIR=$$(mktemp -d); \
	echo "real services: Kafka $${KAFKA_VERSION:-?} at $$KAFKA_BROKERS, Redis $${REDIS_VERSION:-?} at $$REDIS_ADDR"; \
	$(MAKE) --no-print-directory test-go test-faults

.PHONY: test-go
test-go: work-check lint deploy-check ## run every module's tests but the fault suite (integration tests use KAFKA_BROKERS / REDIS_ADDR when set)
	@for m in $(MODULES); do \
		echo "== go test $$m"; \
		(cd $$m && HELM="$(HELM)" go test $(GO_TEST_FLAGS) -skip '$(FAULT_SUITE)' ./...); \
	done

.PHONY: deploy-check deploy-tools
deploy-tools: ## install helm and promtool into .cache/tools (idempotent)
	@test -x "$(HELM)" || { echo "== go install helm $(HELM_VERSION)"; GOBIN="$(dir $(HELM))" go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION); }
	@test -x "$(PROMTOOL)" || { echo "== promtool from Debian's prometheus package"; \
		d=$$(mktemp -d); trap 'rm -rf "$$d"' EXIT; \
		(cd "$$d" && { apt-get download prometheus 2>/dev/null || { apt-get update -qq && apt-get download prometheus; }; }) && \
		mkdir -p "$(TOOLS)/promtool" && dpkg-deb --fsys-tarfile "$$d"/prometheus_*.deb | tar -x -C "$(TOOLS)/promtool" ./usr/bin/promtool; }

deploy-check: deploy-tools ## lint and render the Helm chart, check and unit-test the alerting rules, check compose, chart, alerts and Grafana dashboard against the code
	@echo "== deploy-check"
	@"$(HELM)" lint --strict --quiet deploy/helm/contactsync
	@"$(HELM)" lint --strict --quiet deploy/helm/contactsync --set serviceMonitor.enabled=true --set secrets.existingSecret=contactsync
	@"$(HELM)" lint --strict --quiet deploy/helm/contactsync --set applyOnline.systems.online.enabled=true \
		--set applyOnline.systems.online.url=http://platform:8091 --set applyOffline.enabled=true --set applyOffline.dsnSecret.name=offline-db
	@"$(PROMTOOL)" check rules deploy/prometheus/alerts.yml
	@cd deploy/prometheus && "$(PROMTOOL)" test rules alerts_test.yml
	@cd services/contactsync && HELM="$(HELM)" go test -count=1 -run '$(DEPLOY_TESTS)' .

.PHONY: test-faults
test-faults: ## run the exactly-once fault suite alone (needs KAFKA_BROKERS, REDIS_ADDR, HARNESS_SH)
	@echo "== go test fault suite"
	cd pkg && go test $(GO_TEST_FLAGS) -v -run '$(FAULT_SUITE)' ./faults | grep -v '^=== '

.PHONY: test-faults-large
test-faults-large: ## the fault suite at 100,000 events (10,000 offline contacts; about 20 minutes; not part of make test)
	@echo "== go test fault suite, 100,000 events"
	cd pkg && FAULT_EVENTS=100000 FAULT_MINUTES=40 go test $(GO_TEST_FLAGS:20m=45m) -v -run '$(FAULT_SUITE)' ./faults | grep -v '^=== '

.PHONY: vet
vet: ## go vet every module
	@for m in $(MODULES); do (cd $$m && go vet ./...); done

.PHONY: lint
lint: vet deps-check ## go vet + staticcheck + gofmt every module, and deps-check
	@"$(STATICCHECK)" -version 2>/dev/null | grep -qF '($(STATICCHECK_VERSION:v%=%))' || \
		go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	@for m in $(MODULES); do echo "== staticcheck $$m"; (cd $$m && "$(STATICCHECK)" ./...); done
	@test -z "$$(gofmt -l $(MODULES))" || { gofmt -l $(MODULES); echo "gofmt needed"; exit 1; }

.PHONY: deps-check
deps-check: ## fail if a production binary links a test fake (kfake, miniredis)
	@for s in $(SERVICES); do \
		bad=$$(cd services/$$s && go list -deps . | grep -E '^($(subst $(eval) ,|,$(TEST_ONLY_DEPS)))(/|$$)' || true); \
		if [ -n "$$bad" ]; then echo "services/$$s links test-only packages:"; echo "$$bad"; exit 1; fi; \
	done

.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME (default 15s)
	@for m in $(MODULES); do \
		(cd $$m && for pkg in $$(go list ./...); do \
			for f in $$(go test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
				echo "== fuzz $$pkg $$f"; go test -run '^$$' -fuzz "^$$f$$" -fuzztime $${FUZZTIME:-15s} $$pkg; \
			done; done); \
	done

.PHONY: bench
bench: ## end-to-end benchmark on real Kafka and Redis (started if needed, like `make test`); writes BENCHMARKS.md (BENCH_NCOA=1000000 for the full burst)
	@session="make-bench-$$$$"; \
	trap 'HARNESS_SESSION=$$session $(HARNESS) down' EXIT; \
	HARNESS_SESSION=$$session $(HARNESS) up; \
	source $${HARNESS_STATE_DIR:-.harness}/env; \
	command="make bench $$(env | grep -E '^(BENCH_[A-Z_]+|HARNESS_PORT_OFFSET)=' | grep -v '^BENCH_OUT=' | sort | tr '\n' ' ')"; \
	(cd pkg && BENCH=1 BENCH_OUT=$(CURDIR)/BENCHMARKS.md BENCH_COMMAND="$$command" \
		go test -count=1 -timeout 90m -run '^TestBench$$' -v ./bench | grep --line-buffered -v '^=== ')

.PHONY: bench-redis
bench-redis: ## Redis memory per person: seeds BENCH_PERSONS persons (default 100000; 1000000 for the full run) through the real stores into the harness Redis; rewrites its section of BENCHMARKS.md
	@session="make-bench-redis-$$$$"; \
	trap 'HARNESS_SESSION=$$session HARNESS_SERVICES=redis $(HARNESS) down' EXIT; \
	HARNESS_SESSION=$$session HARNESS_SERVICES=redis $(HARNESS) up; \
	source $${HARNESS_STATE_DIR:-.harness}/env; \
	command="make bench-redis $$(env | grep -E '^(BENCH_PERSONS|HARNESS_PORT_OFFSET)=' | sort | tr '\n' ' ')"; \
	(cd pkg && BENCH=1 BENCH_OUT=$(CURDIR)/BENCHMARKS.md BENCH_COMMAND="$$command" \
		go test -count=1 -timeout 120m -run '^TestBenchRedisMemory$$' -v ./bench | grep --line-buffered -v '^=== ')

.PHONY: bench-baseline
bench-baseline: ## contactsync baseline of N generated offline x N online persons, dry run, no services (BASELINE_N, default 100000): time and peak RSS
	cd pkg && BENCH=1 BASELINE_N=$${BASELINE_N:-100000} go test -count=1 -timeout 120m -run '^TestBenchBaseline$$' -v ./baseline

.PHONY: bench-micro
bench-micro: ## run the Go micro-benchmarks (against real Redis/Kafka when harness env is present)
	@if [ -f .harness/env ]; then source .harness/env; fi; \
	for m in $(MODULES); do (cd $$m && go test $(BENCH_FLAGS) ./...); done

.PHONY: match-eval
match-eval: ## evaluate matching on FEBRL (4a->4b linkage, 3 streaming dedupe)
	cd services/contactsync && go build -o ../../bin/contactsync .
	@for args in "dataset4a.csv dataset4b.csv" "dataset3.csv" "dataset1.csv" "dataset2.csv"; do \
		echo "== match-eval $$args"; \
		bin/contactsync match-eval --format febrl $$(for f in $$args; do echo $(FEBRL)/$$f; done); \
	done

.PHONY: screenshots
screenshots: ## refresh docs/screenshots with the dashboard's browser test
	deploy/harness/browser-deps.sh
	cd pkg && CS_SCREENSHOT_DIR= go test -count=1 -run 'TestDashboardInBrowser|TestPersonPageInBrowser' ./dashboard/

.PHONY: harness-up harness-down
harness-up: ## start real Kafka, Redis, PostgreSQL on loopback (idempotent)
	$(HARNESS) up
harness-down: ## stop the services `make harness-up` started
	$(HARNESS) down

.PHONY: tidy work-check
tidy: ## go mod tidy in every module
	@for m in $(MODULES); do (cd $$m && go mod tidy); done
work-check: ## fail if go.work does not list exactly MODULES
	@diff <(sed -n 's#^\t\./##p' go.work | sort) <(printf '%s\n' $(MODULES) | sort)

.PHONY: clean
clean:
	rm -rf bin
