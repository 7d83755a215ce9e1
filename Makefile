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

lint: ## go vet and a gofmt check
	go vet ./...
	@out="$$(gofmt -l $$(git ls-files '*.go'))"; if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

venv: $(VENV)/.installed ## the project-local Python environment (Ray, pytest)

$(VENV)/.installed: deploy/local/requirements.txt
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install -q --disable-pip-version-check -r deploy/local/requirements.txt
	touch $@

test: lint venv ## every test: Go (race detector) and the Python job, against real Redis, NATS and a local Ray head
	deploy/local/with-ray-head.sh $(MAKE) --no-print-directory test-go test-python

test-go: $(GOBIN)/gotestsum
	gotestsum --format testname -- $(GO_TEST_FLAGS) ./...

$(GOBIN)/gotestsum:
	go install gotest.tools/gotestsum@v1.13.0

test-python:
	$(PYTHON) -m pytest -q deploy/ray

clean: ## remove build outputs (keeps the venv)
	rm -rf bin
