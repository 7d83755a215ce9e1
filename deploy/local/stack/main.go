// Command stack is the launcher behind `make run` (docs/development.md): the whole system on one
// machine. It embeds Redis (miniredis) and NATS with JetStream unless REDIS_URL or NATS_URL name
// servers, starts a local Ray head through deploy/local/rayhead.sh unless RAY_ADDRESS names one
// (RUN_RAY_CLUSTERS=N: N heads, ray-1..ray-N, listed to the functions in RAY_CLUSTERS_FILE),
// runs the four functions as separate processes (8081-8084) and the combined router (8080) against
// them, sends the reconcile tick a PingSource would, restarts the functions on SIGHUP (they read
// their configuration again: RUN_RAY_CLUSTERS' file of clusters, to drain one), and on Ctrl-C
// stops everything it started.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/rayexecutor/functions/shared/config"
)

// Exit statuses: 0 after Ctrl-C (or SIGTERM) and a clean stop; 1 when a part failed; 2 for an
// invalid command line or configuration, when nothing was started.
const (
	exitFailed = 1
	exitUsage  = 2
)

func main() {
	os.Exit(run())
}

func run() int {
	opts, err := parseOptions(os.Args[1:], os.Getenv, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "stack:", err)
		return exitUsage
	}
	// The functions validate the same variables when they start; checking them here first
	// reports every problem once, before minutes go into a Ray head.
	cfg, err := config.Load(os.Getenv, config.Options{Local: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "stack:", err)
		return exitUsage
	}
	out := &output{}
	reload := make(chan os.Signal, 1)
	signal.Notify(reload, syscall.SIGHUP)
	s := &stack{log: cfg.Logger(out.writer("stack", os.Stderr)), out: out, grace: opts.grace, reload: reload}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-signals
		s.log.Info("stopping the stack", "signal", sig.String())
		cancel()
		// Further signals are swallowed: the stop is bounded, and dying half-way through it
		// would leave processes behind.
		for sig := range signals {
			s.log.Info("already stopping", "signal", sig.String())
		}
	}()

	err = s.up(ctx, cfg, opts, os.Environ())
	s.down()
	switch {
	case ctx.Err() != nil:
		s.log.Info("stack stopped")
		return 0
	case errors.Is(err, errChildExited):
		s.log.Error("stack stopped because a function exited", "error", err.Error())
	default:
		s.log.Error("stack failed", "error", err.Error())
	}
	return exitFailed
}
