// Command fakemodel runs the fake model server (internal/fakes/modelserver) on its own, for the
// Python tests: it listens on 127.0.0.1 (port 0 unless -addr says otherwise), prints its base URL
// as the first line of stdout, and is driven through its control surface under /_fake/. It stops
// on SIGINT or SIGTERM, and when its stdin closes, so a test run that dies does not leave it
// behind.
package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/rayexecutor/functions/internal/fakes/modelserver"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	s, err := modelserver.Listen(*addr)
	if err != nil {
		log.Error("fakemodel cannot listen", "addr", *addr, "error", err)
		os.Exit(1)
	}
	defer s.Close()
	if _, err := fmt.Fprintln(os.Stdout, s.URL()); err != nil {
		log.Error("fakemodel cannot print its URL", "error", err)
		return
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	stdinClosed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()
	select {
	case <-stop:
	case <-stdinClosed:
	}
}
