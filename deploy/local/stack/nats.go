package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// startNATS embeds a NATS server with JetStream on a free port of 127.0.0.1, its store in a
// temporary directory removed when it stops, and returns its URL.
func (s *stack) startNATS() (string, error) {
	dir, err := os.MkdirTemp("", "rxstack-nats-")
	if err != nil {
		return "", fmt.Errorf("embedded nats: %w", err)
	}
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: dir,
		// The launcher owns the signals: left to itself the server would exit on Ctrl-C before
		// the functions that publish to it have stopped.
		NoSigs: true, NoLog: true,
	})
	if err != nil {
		_ = os.RemoveAll(dir)
		return "", fmt.Errorf("embedded nats: %w", err)
	}
	ns.Start()
	s.onStop("nats", func() {
		ns.Shutdown()
		ns.WaitForShutdown()
		_ = os.RemoveAll(dir)
	})
	if !ns.ReadyForConnections(10 * time.Second) {
		return "", errors.New("embedded nats: not ready for connections within 10s")
	}
	return ns.ClientURL(), nil
}
