package main

import (
	"testing"

	"github.com/rayexecutor/functions/internal/fakes/modelserver"
)

// modelHost runs the tests' fake model server (internal/fakes/modelserver) in the bench process: it
// answers every agent and judge call at once, so a deliberation's time is the dispatch's alone.
// The fake asks its testing.TB only to mark a helper and to register its cleanup; the embedded
// nil TB is never reached.
type modelHost struct {
	testing.TB
	cleanups []func()
}

func (h *modelHost) Helper() {}

func (h *modelHost) Cleanup(f func()) { h.cleanups = append(h.cleanups, f) }

func startModelServer() (*modelserver.Server, *modelHost) {
	h := &modelHost{}
	return modelserver.New(h), h
}

func (h *modelHost) close() {
	for i := len(h.cleanups) - 1; i >= 0; i-- {
		h.cleanups[i]()
	}
}
