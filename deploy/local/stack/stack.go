package main

import (
	"log/slog"
	"os"
	"sync"
	"time"
)

// stack is what the launcher has started so far and how to stop it. Every part registers its
// stop as soon as it exists, so an interrupted or failed start-up stops exactly what it started.
type stack struct {
	log   *slog.Logger
	out   *output
	grace time.Duration
	// stops run after the children, newest first: the Ray head, then NATS, then Redis.
	stops []namedStop
	// children are stopped together, first: each may take its whole grace, and they do not
	// depend on one another.
	children []*child
	// reload receives SIGHUP: restart the functions, which read their configuration again.
	reload <-chan os.Signal
}

type namedStop struct {
	name string
	stop func()
}

// onStop registers how to stop a part of the stack.
func (s *stack) onStop(name string, stop func()) {
	s.stops = append(s.stops, namedStop{name, stop})
}

// down stops every child, then every other part, newest first.
func (s *stack) down() {
	s.stopFunctions()
	for i := len(s.stops) - 1; i >= 0; i-- {
		s.stops[i].stop()
		s.log.Info("stopped", "part", s.stops[i].name)
	}
}

// stopFunctions stops every child together and forgets them.
func (s *stack) stopFunctions() {
	var wg sync.WaitGroup
	for _, c := range s.children {
		wg.Go(func() { c.stop(s.grace) })
	}
	wg.Wait()
	if len(s.children) > 0 {
		s.log.Info("functions stopped", "count", len(s.children))
	}
	s.children = nil
}
