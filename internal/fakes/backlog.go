package fakes

import (
	"context"
	"sync"

	"github.com/rayexecutor/functions/shared/app"
)

var _ app.RunnerBacklog = (*Backlog)(nil)

// Backlog is a runners' queue whose lag the test sets; it counts how often it was read.
type Backlog struct {
	mu    sync.Mutex
	lag   int64
	err   error
	reads int
}

// Set makes Lag answer lag and err from now on.
func (b *Backlog) Set(lag int64, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lag, b.err = lag, err
}

func (b *Backlog) Lag(context.Context) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reads++
	return b.lag, b.err
}

// Reads is how many times Lag was called.
func (b *Backlog) Reads() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.reads
}
