package main

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/rayexecutor/functions/shared/config"
)

// TestFindCollectorPrefersJaeger: Jaeger's all-in-one, then v2, then the Collector builds, as
// they are found on the PATH.
func TestFindCollectorPrefersJaeger(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		onPath []string
		want   string
	}{
		{[]string{"otelcol", "jaeger"}, "jaeger"},
		{[]string{"otelcol", "otelcol-contrib"}, "otelcol-contrib"},
		{[]string{"otelcol", "jaeger-all-in-one", "jaeger"}, "jaeger-all-in-one"},
		{[]string{"otelcol"}, "otelcol"},
		{nil, ""},
	} {
		kind, path, ok := findCollector(func(name string) (string, error) {
			if slices.Contains(c.onPath, name) {
				return "/opt/bin/" + name, nil
			}
			return "", errors.New("not found")
		})
		if kind.binary != c.want || ok != (c.want != "") || (ok && path != "/opt/bin/"+c.want) {
			t.Errorf("PATH with %v: found %q at %q, want %q", c.onPath, kind.binary, path, c.want)
		}
	}
}

// TestOtelcolConfigListensOnThisMachine: the Collector's config takes OTLP on 127.0.0.1's OTLP
// ports only and has a traces pipeline from it.
func TestOtelcolConfigListensOnThisMachine(t *testing.T) {
	t.Parallel()
	var c struct {
		Receivers struct {
			OTLP struct {
				Protocols map[string]struct {
					Endpoint string `json:"endpoint"`
				} `json:"protocols"`
			} `json:"otlp"`
		} `json:"receivers"`
		Service struct {
			Pipelines map[string]struct {
				Receivers []string `json:"receivers"`
				Exporters []string `json:"exporters"`
			} `json:"pipelines"`
		} `json:"service"`
	}
	if err := yaml.Unmarshal([]byte(otelcolConfig), &c); err != nil {
		t.Fatal(err)
	}
	if got := c.Receivers.OTLP.Protocols["http"].Endpoint; got != collectorOTLPHTTP {
		t.Errorf("OTLP/HTTP on %q, want %s", got, collectorOTLPHTTP)
	}
	for name, p := range c.Receivers.OTLP.Protocols {
		if !strings.HasPrefix(p.Endpoint, "127.0.0.1:") {
			t.Errorf("%s receiver on %q: beyond this machine", name, p.Endpoint)
		}
	}
	if p := c.Service.Pipelines["traces"]; !slices.Equal(p.Receivers, []string{"otlp"}) || len(p.Exporters) == 0 {
		t.Errorf("traces pipeline %+v", p)
	}
}

// TestTracingUsesTheGivenEndpoint: a user's endpoint is used as it is (nothing started), and
// OTEL_SDK_DISABLED or no collector on the PATH leaves tracing off.
func TestTracingUsesTheGivenEndpoint(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no collector to find
	s := &stack{}
	given := config.Config{Tracing: config.Tracing{Endpoint: "http://collector:4318"}}
	if e := s.tracing(t.Context(), &given, nil); e.url != "http://collector:4318" || len(s.stops) != 0 {
		t.Errorf("given endpoint: %+v, %d things to stop", e, len(s.stops))
	}
	var none config.Config
	if e := s.tracing(t.Context(), &none, []string{"OTEL_SDK_DISABLED=true"}); e.url != "" || none.Tracing.Enabled() {
		t.Errorf("OTEL_SDK_DISABLED: %+v", e)
	}
	if e := s.tracing(t.Context(), &none, nil); e.url != "" || none.Tracing.Enabled() {
		t.Errorf("no collector on the PATH: %+v", e)
	}
}

// TestStartCollectorRunsItUntilTheStackStops: a collector found on the PATH (here a stand-in
// otelcol that serves HTTP on the OTLP port and records its arguments) is started with its config,
// waited for, named in the table, and stopped with the stack.
func TestStartCollectorRunsItUntilTheStackStops(t *testing.T) {
	// The interpreter itself: a version manager's shim on the PATH needs the PATH the test removes.
	real, err := exec.Command("python3", "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		t.Skip("no python3: no stand-in collector")
	}
	python := strings.TrimSpace(string(real))
	if l, err := net.Listen("tcp", collectorOTLPHTTP); err != nil {
		t.Skipf("%s is taken on this machine: %v", collectorOTLPHTTP, err)
	} else {
		_ = l.Close()
	}
	dir := t.TempDir()
	argsFile := filepath.Join(dir, "args")
	script := "#!/bin/sh\necho \"$@\" > " + argsFile + "\n/bin/cp \"$2\" " + argsFile + ".yaml\n" +
		"exec " + python + " -m http.server --bind 127.0.0.1 4318\n"
	if err := os.WriteFile(filepath.Join(dir, "otelcol"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	out := &output{}
	s := &stack{log: slog.New(slog.NewTextHandler(t.Output(), nil)), out: out, grace: 5 * time.Second}
	var cfg config.Config
	e := s.tracing(t.Context(), &cfg, nil)
	if e.url != "http://"+collectorOTLPHTTP || cfg.Tracing.Endpoint != e.url || !strings.Contains(e.note, "otelcol") {
		s.down()
		t.Fatalf("collector endpoint %+v, config endpoint %q", e, cfg.Tracing.Endpoint)
	}
	args, _ := os.ReadFile(argsFile)
	config, _ := os.ReadFile(argsFile + ".yaml")
	if !strings.HasPrefix(string(args), "--config ") || string(config) != otelcolConfig {
		t.Errorf("started with %q and config %q", args, config)
	}
	s.down()
	if c, err := net.DialTimeout("tcp", collectorOTLPHTTP, time.Second); err == nil {
		c.Close()
		t.Error("the collector still listens after the stack stopped")
	}
}
