# Ray Executor Functions. `make help` lists the targets.
SHELL := /bin/bash
VENV ?= .venv
PYTHON := $(VENV)/bin/python
GO_TEST_FLAGS ?= -race -count=1 -timeout 30m
GOBIN := $(shell go env GOPATH)/bin
export PATH := $(GOBIN):$(PATH)

.PHONY: help build lint test test-go test-python venv clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

build: ## build every package and the function binaries into bin/
	go build ./...
	@if [ -d functions ]; then for f in functions/*/; do go build -o bin/$$(basename $$f) ./$$f || exit 1; done; fi

lint: venv ## go vet and a gofmt check; ruff and mypy on the Python that runs on Ray (shared/rayjob/pyproject.toml)
	go vet ./...
	go vet -tags faults ./deploy/faults
	@out="$$(gofmt -l $$(git ls-files '*.go'))"; if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	cd shared/rayjob && $(abspath $(VENV))/bin/ruff check . && $(abspath $(VENV))/bin/mypy .

venv: $(VENV)/.installed ## the project-local Python environment (Ray, pytest, ruff, mypy)

$(VENV)/.installed: deploy/local/requirements.txt
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install -q --disable-pip-version-check -r deploy/local/requirements.txt
	touch $@

.PHONY: run
run: venv ## the whole system on this machine: embedded Redis and NATS, a Ray head, the functions on 8081-8084, the router on 8080 (Ctrl-C stops all)
	go build -o bin/stack ./deploy/local/stack
	exec bin/stack

.PHONY: bench
bench: venv ## Go benchmarks, then the load generator against the built functions, a real redis-server and the fake Ray Jobs API, then the dispatch ways on a Ray head of its own; prints the tables and writes bin/bench.md
	go test -run '^$$' -bench . -benchmem -benchtime 1s -count 1 ./shared/deliberation ./shared/redisstore ./shared/transport/httpapi
	go run ./deploy/bench -out bin/bench.md

test: lint proto-check venv ## every test: Go (race detector) and the Python job, against real Redis, NATS and a local Ray head
	deploy/local/with-ray-head.sh $(MAKE) --no-print-directory test-go test-python

test-go: $(GOBIN)/gotestsum
	gotestsum --format testname -- $(GO_TEST_FLAGS) ./...

$(GOBIN)/gotestsum:
	go install gotest.tools/gotestsum@v1.13.0

test-python:
	$(PYTHON) -m pytest -q shared/rayjob

# The wire contract's generators, pinned: the generated Go is committed (so `go build`, `func build`
# and `go install` need no protobuf toolchain), and proto-check proves it is what these write.
BUF_VERSION := v1.75.0
PROTOC_GEN_GO_VERSION := v1.36.12
PROTOC_GEN_CONNECT_GO_VERSION := v1.21.1
TOOLS := $(CURDIR)/bin/tools

$(TOOLS)/buf:
	GOBIN=$(TOOLS) go install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
$(TOOLS)/protoc-gen-go:
	GOBIN=$(TOOLS) go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
$(TOOLS)/protoc-gen-connect-go:
	GOBIN=$(TOOLS) go install connectrpc.com/connect/cmd/protoc-gen-connect-go@$(PROTOC_GEN_CONNECT_GO_VERSION)

.PHONY: proto proto-check
proto: $(TOOLS)/buf $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-connect-go ## lint the wire contract (shared/proto) and regenerate its Go code
	cd shared/proto && PATH=$(TOOLS):$$PATH buf lint && PATH=$(TOOLS):$$PATH buf generate

proto-check: $(TOOLS)/buf $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-connect-go ## fail when the committed generated code differs from what `make proto` writes
	@tmp="$$(mktemp -d)"; trap 'rm -rf "$$tmp"' EXIT; \
	(cd shared/proto && PATH=$(TOOLS):$$PATH buf lint && PATH=$(TOOLS):$$PATH buf generate -o "$$tmp") || exit 1; \
	cd "$$tmp" && for f in $$(find . -name '*.go' | sort); do \
		cmp -s "$$f" "$(CURDIR)/shared/proto/$$f" || { echo "shared/proto/$${f#./} is not what make proto writes: run make proto"; exit 1; }; \
	done; \
	extra="$$(cd $(CURDIR)/shared/proto && find . -name '*.go' | sort | while read -r f; do [ -e "$$tmp/$$f" ] || echo "$$f"; done)"; \
	if [ -n "$$extra" ]; then echo "shared/proto holds Go that make proto does not write: $$extra"; exit 1; fi

.PHONY: migrate-keys
migrate-keys: ## move a Redis keyspace of the store's layout before shards into the sharded one, and the runner queue's older layouts (before its tag, one stream, another shard count) into its shards, pending entries included, in place (REDIS_MODE, REDIS_URL, REDIS_KEY_PREFIX as the functions read them; stop the functions first; docs/state.md)
	go run ./deploy/migrate-keys

.PHONY: test-faults fuzz
test-faults: venv ## the fault suite, once per dispatch (jobs, then serve), then Redis failover on Sentinel and on Cluster, then two Ray clusters each lost whole in turn (serve; 20-28 min): the functions under load on Ray heads of their own while Redis is SIGKILLed, Ray restarted or a whole cluster SIGKILLed, NATS cut and the runner killed, or a Redis primary SIGKILLed three times; checks the invariants of docs/state.md
	FAULTS_DISPATCH=jobs go test -tags faults -race -count=1 -v -timeout 20m -run '^TestFaults$$' ./deploy/faults
	FAULTS_DISPATCH=serve go test -tags faults -race -count=1 -v -timeout 20m -run '^TestFaults$$' ./deploy/faults
	FAULTS_DISPATCH=serve FAULTS_REDIS=sentinel go test -tags faults -race -count=1 -v -timeout 20m -run '^TestFaults$$' ./deploy/faults
	FAULTS_DISPATCH=serve FAULTS_REDIS=cluster go test -tags faults -race -count=1 -v -timeout 20m -run '^TestFaults$$' ./deploy/faults
	FAULTS_DISPATCH=serve FAULTS_CLUSTERS=2 go test -tags faults -race -count=1 -v -timeout 20m -run '^TestFaults$$' ./deploy/faults

FUZZTIME ?= 30s

# Go 1.26's fuzz coordinator can report its own -fuzztime deadline as a failure, with no failing
# input (go.dev/issue/75804, fixed in Go 1.27): that alone is a full run that found nothing. No
# fuzz target here uses a deadline of its own, so any other failure, or a failing input, fails.
fuzz: ## every fuzz target (JSON, CloudEvents, result line), one at a time, for FUZZTIME each (default 30s)
	@for file in $$(grep -rl --include='*_test.go' --exclude-dir=.venv '^func Fuzz' . | sort); do \
		for target in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$file); do \
			echo "fuzz: $$target in $$(dirname $$file) for $(FUZZTIME)"; \
			out="$$(go test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$(dirname $$file) 2>&1)"; status=$$?; \
			echo "$$out" | grep -v '^fuzz: elapsed'; \
			[ $$status -eq 0 ] && continue; \
			if echo "$$out" | grep -qx '    context deadline exceeded' && ! echo "$$out" | grep -q 'Failing input'; then \
				echo "fuzz: $$target ran its $(FUZZTIME) without a failing input (Go's deadline report, go.dev/issue/75804)"; \
				continue; \
			fi; \
			exit 1; \
		done; \
	done

clean: ## remove build outputs (keeps the venv)
	rm -rf bin

# ko takes one main package per argument (not a ./... pattern), hence the go list. No registry is
# reachable from the development machines: run this where KO_DOCKER_REPO can be pushed to.
.PHONY: images
images: ## build and push with ko the four function images to $KO_DOCKER_REPO/<function>:latest and the combined function's (./deploy/local/combined, h2c) to $KO_DOCKER_REPO/combined:latest (default registry.example.com/rayexecutor, the images deploy/knative names)
	KO_DOCKER_REPO=$${KO_DOCKER_REPO:-registry.example.com/rayexecutor} go run github.com/google/ko@v0.19.1 build \
		--base-import-paths --tags latest $$(go list -f '{{if eq .Name "main"}}{{.ImportPath}}{{end}}' ./functions/...) ./deploy/local/combined

.PHONY: runner-package
runner-package: ## write the deliberation runner's working_dir zip (shared/rayjob's Python modules and its queue contract) to bin/_ray_pkg_<sha256>.zip, and pin its name and revision in shared/rayjob/runner_revision.txt and deploy/ray/rayservice.yaml
	go run ./deploy/ray/runnerpackage -dir bin

# The RayCluster serves both dispatches: in serve (the default) the functions deploy the
# deliberation runner on it themselves (docs/deploy.md); rayservice.yaml is a manual alternative.
.PHONY: deploy
deploy: ## apply deploy/knative (functions, settings, Redis, Broker, Triggers, PingSource) and, with KubeRay installed, deploy/ray/raycluster.yaml (the functions deploy the runner on it) to the current kubectl context
	kubectl apply -k deploy/knative
	@if kubectl get crd rayclusters.ray.io >/dev/null 2>&1; then kubectl apply -n ray-executor -f deploy/ray/raycluster.yaml; \
	else echo "KubeRay is not installed: deploy/ray/raycluster.yaml skipped; point RAY_ADDRESS in deploy/knative/base/settings.yaml at your Ray cluster's dashboard"; fi
	kubectl wait -n ray-executor --for=condition=Ready ksvc --all --timeout=5m
	kn service list -n ray-executor 2>/dev/null || kubectl get ksvc -n ray-executor

.PHONY: undeploy
undeploy: ## delete what deploy applied: the namespace ray-executor goes, and with it the RayCluster and Redis's data
	kubectl delete -k deploy/knative --ignore-not-found
