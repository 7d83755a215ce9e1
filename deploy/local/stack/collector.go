package main

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/rayexecutor/functions/internal/launcher"
	"github.com/rayexecutor/functions/shared/config"
)

// The ports of the local collector: OTLP's own (4317 gRPC, 4318 HTTP) and Jaeger's UI, where the
// docs and every OTel tool look first.
const (
	collectorOTLPHTTP = "127.0.0.1:4318"
	collectorOTLPGRPC = "127.0.0.1:4317"
	collectorUI       = "127.0.0.1:16686"
	collectorReady    = 30 * time.Second
)

// collectorKind is a collector make run knows how to start: Jaeger (v1's all-in-one or v2, both a
// UI that shows traces) or an OpenTelemetry Collector (which prints what it receives).
type collectorKind struct {
	binary string
	// args are its arguments; config, when set, is written to a file passed as --config.
	args   []string
	config string
	ui     bool
}

// collectorKinds in the order make run looks for them on the PATH.
var collectorKinds = []collectorKind{
	{binary: "jaeger-all-in-one", ui: true, args: []string{"--collector.otlp.enabled=true",
		"--collector.otlp.http.host-port=" + collectorOTLPHTTP, "--collector.otlp.grpc.host-port=" + collectorOTLPGRPC,
		"--query.http-server.host-port=" + collectorUI}},
	{binary: "jaeger", ui: true}, // v2 serves OTLP on 4317/4318 and its UI on 16686 without a config
	{binary: "otelcol-contrib", config: otelcolConfig},
	{binary: "otelcol", config: otelcolConfig},
}

// otelcolConfig takes OTLP on this machine only and logs one line per batch it gets.
const otelcolConfig = `receivers:
  otlp:
    protocols:
      http:
        endpoint: ` + collectorOTLPHTTP + `
      grpc:
        endpoint: ` + collectorOTLPGRPC + `
exporters:
  debug:
    verbosity: basic
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [debug]
`

// findCollector is the first collector on the PATH (lookPath is exec.LookPath).
func findCollector(lookPath func(string) (string, error)) (collectorKind, string, bool) {
	for _, k := range collectorKinds {
		if path, err := lookPath(k.binary); err == nil {
			return k, path, true
		}
	}
	return collectorKind{}, "", false
}

// startCollector runs a local collector and returns its OTLP/HTTP endpoint (an
// OTEL_EXPORTER_OTLP_ENDPOINT) and the table's line for it; stopped with the stack.
func (s *stack) startCollector(ctx context.Context, kind collectorKind, path string, environ []string) (endpoint, error) {
	if l, err := net.Listen("tcp", collectorOTLPHTTP); err != nil {
		return endpoint{}, fmt.Errorf("%s: OTLP's port %s is taken (a collector already running there? then set OTEL_EXPORTER_OTLP_ENDPOINT=http://%s)",
			kind.binary, collectorOTLPHTTP, collectorOTLPHTTP)
	} else {
		_ = l.Close()
	}
	args := kind.args
	if kind.config != "" {
		dir, err := os.MkdirTemp("", "rxstack-otelcol-")
		if err != nil {
			return endpoint{}, err
		}
		s.onStop("collector config", func() { _ = os.RemoveAll(dir) })
		file := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(file, []byte(kind.config), 0o600); err != nil {
			return endpoint{}, err
		}
		args = []string{"--config", file}
	}
	stdout, stderr := s.out.writer("collector", os.Stdout), s.out.writer("collector", os.Stderr)
	proc, err := launcher.Start(launcher.Command{Path: path, Args: args, Env: environ, Stdout: stdout, Stderr: stderr,
		Group: true, Name: kind.binary})
	if err != nil {
		return endpoint{}, err
	}
	s.onStop("collector", func() {
		proc.Stop(s.grace)
		stdout.flush()
		stderr.flush()
	})
	if err := waitListening(ctx, proc, collectorOTLPHTTP, collectorReady); err != nil {
		return endpoint{}, fmt.Errorf("%s: %w", kind.binary, err)
	}
	note := kind.binary + " on the PATH, the functions' and the runner's spans"
	if kind.ui {
		note += "; traces at http://" + collectorUI
	}
	return endpoint{"OTLP collector", "http://" + collectorOTLPHTTP, note}, nil
}

// waitListening waits until addr takes connections, the process exits or within passes.
func waitListening(ctx context.Context, proc *launcher.Process, addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-proc.Done():
			return fmt.Errorf("exited before it listened on %s: %v", addr, proc.Wait())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening on %s within %s", addr, within)
		}
	}
}

// tracing is where the stack's spans go: the user's OTEL_EXPORTER_OTLP_ENDPOINT, else a local
// collector started from the PATH (cfg then names it), else nowhere (an empty endpoint: off). A
// collector that cannot start leaves tracing off; the stack runs on.
func (s *stack) tracing(ctx context.Context, cfg *config.Config, environ []string) endpoint {
	if cfg.Tracing.Enabled() {
		return endpoint{"OTLP collector", cmp.Or(cfg.Tracing.TracesEndpoint, cfg.Tracing.Endpoint), "from OTEL_EXPORTER_OTLP_ENDPOINT"}
	}
	if lookup(environ, "OTEL_SDK_DISABLED") == "true" {
		return endpoint{}
	}
	kind, path, ok := findCollector(exec.LookPath)
	if !ok {
		return endpoint{}
	}
	e, err := s.startCollector(ctx, kind, path, environ)
	if err != nil {
		s.log.Warn("no local collector: tracing stays off", "error", err.Error())
		return endpoint{}
	}
	cfg.Tracing.Endpoint = e.url
	return e
}
