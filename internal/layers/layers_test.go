package layers_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rayexecutor/functions/internal/layers"
)

const module = "github.com/rayexecutor/functions"

// rules reads the layer table of docs/architecture.md.
func rules(t *testing.T) layers.Rules {
	t.Helper()
	doc, err := os.Open(filepath.Join(moduleRoot(t), "docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer doc.Close()
	r, err := layers.ParseRules(module, doc)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// modulePackages lists every package of the module, with every build tag the project uses.
func modulePackages(t *testing.T) []layers.Package {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-tags", "faults,profile", "-json=ImportPath,Name,Imports,TestImports,XTestImports", "./...")
	cmd.Dir = moduleRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []layers.Package
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p layers.Package
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 20 {
		t.Fatalf("go list found %d packages: not the module", len(pkgs))
	}
	return pkgs
}

// TestImportsFollowTheLayers is the guard: every package of the module imports only what its
// layer may.
func TestImportsFollowTheLayers(t *testing.T) {
	t.Parallel()
	r := rules(t)
	for _, bad := range r.Check(modulePackages(t)) {
		t.Errorf("%s, against docs/architecture.md", bad)
	}
}

// TestSharedServesTheFunctions: every package under shared/ is part of some function, so shared/
// holds no package that only tests or tools import.
func TestSharedServesTheFunctions(t *testing.T) {
	t.Parallel()
	for _, bad := range rules(t).Unserved(modulePackages(t), "shared") {
		t.Error(bad)
	}
}

// TestUnservedCatchesALonePackage runs the check on a made-up graph: a package under shared/ that
// only a test support package and a tool import is reported, while one that a function reaches
// through two hops, and one the root package imports, are not.
func TestUnservedCatchesALonePackage(t *testing.T) {
	t.Parallel()
	r := rules(t)
	m := func(path string) string { return module + path }
	pkgs := []layers.Package{
		{ImportPath: m("/functions/get-stats"), Name: "main", Imports: []string{m("/shared/wiring")}},
		{ImportPath: module, Name: "function", Imports: []string{m("/shared/transport")}},
		{ImportPath: m("/shared/wiring"), Name: "wiring", Imports: []string{m("/shared/app"), "log/slog"}},
		{ImportPath: m("/shared/app"), Name: "app"},
		{ImportPath: m("/shared/transport"), Name: "transport"},
		{ImportPath: m("/shared/lonely"), Name: "lonely", TestImports: []string{m("/shared/app")}},
		{ImportPath: m("/functions/internal/functest"), Name: "functest", Imports: []string{m("/shared/lonely")}},
		{ImportPath: m("/deploy/bench"), Name: "main", Imports: []string{m("/shared/lonely")}},
	}
	got := r.Unserved(pkgs, "shared")
	if len(got) != 1 || !strings.Contains(got[0], m("/shared/lonely")+" ") {
		t.Errorf("got %q, want shared/lonely alone", got)
	}
}

// TestCheckCatchesWrongImports: each wrong direction the page forbids is reported, and the
// allowed ones are not.
func TestCheckCatchesWrongImports(t *testing.T) {
	t.Parallel()
	r := rules(t)
	p := func(path string, imports ...string) layers.Package {
		return layers.Package{ImportPath: module + path, Imports: imports}
	}
	m := func(path string) string { return module + path }
	wrong := map[string]layers.Package{
		"domain uses a library":          p("/shared/deliberation", "github.com/redis/go-redis/v9"),
		"use case uses an adapter":       p("/shared/app", m("/shared/redisstore")),
		"adapter uses another":           p("/shared/rayjobs", m("/shared/natsevents")),
		"one Ray adapter uses the other": p("/shared/runnerqueue", m("/shared/rayjobs")),
		"adapter uses the transport":     p("/shared/redisstore", m("/shared/transport")),
		"transport reads config":         p("/shared/transport", m("/shared/config")),
		"RPC uses the HTTP surface":      p("/shared/transport/rpc", m("/shared/transport/httpapi")),
		"shared transport uses RPC":      p("/shared/transport", m("/shared/transport/rpc")),
		"observability uses routes":      p("/shared/transport/observe", m("/shared/transport")),
		"config uses a use case":         p("/shared/config", m("/shared/app")),
		"function skips the root":        p("/functions/get-stats", m("/shared/redisstore")),
		"product uses deploy":            p("/shared/wiring", m("/deploy/ray")),
		"tool uses the root":             p("/deploy/local/combined", module),
		"function uses test support":     p("/functions/get-stats", m("/internal/fakes")),
		"a package in no layer":          p("/shared/misc"),
		"a test imports a tool":          {ImportPath: m("/shared/runnerqueue"), TestImports: []string{m("/deploy/bench")}},
		"a test imports the root":        {ImportPath: m("/functions/get-stats"), XTestImports: []string{module}},
		"an import of an unknown one":    p("/shared/wiring", m("/shared/misc")),
	}
	for name, pkg := range wrong {
		if got := r.Check([]layers.Package{pkg}); len(got) != 1 {
			t.Errorf("%s: got %q, want one violation", name, got)
		}
	}
	right := []layers.Package{
		p("/shared/deliberation", "errors", "net/url"),
		p("/shared/app", m("/shared/deliberation")),
		p("/shared/redisstore", m("/shared/app"), "github.com/redis/go-redis/v9"),
		p("/shared/wiring", m("/shared/rayjobs"), m("/shared/runnerqueue"), m("/shared/rayjob"), m("/shared/transport"), m("/shared/config")),
		p("", m("/shared/wiring")),
		p("/shared/transport/httpapi", m("/shared/transport/rpc"), m("/shared/transport/observe"), m("/shared/transport")),
		p("/shared/transport/rpc", m("/shared/transport"), m("/shared/transport/observe"), m("/shared/proto/fleet/ray_executor/v1")),
		p("/functions/internal/functest", m("/shared/wiring"), m("/internal/launcher")),
		p("/deploy/bench", m("/internal/raytest"), m("/internal/launcher")),
		p("/shared/runnerqueue", m("/shared/app"), m("/shared/deliberation"), "github.com/redis/go-redis/v9"),
		{ImportPath: m("/shared/rayjobs"), TestImports: []string{m("/shared/redisstore"), m("/internal/testenv")}},
		{ImportPath: m("/shared/runnerqueue"), XTestImports: []string{m("/internal/raycontract"), m("/shared/rayserve")}},
	}
	if got := r.Check(right); len(got) != 0 {
		t.Errorf("allowed imports reported: %q", got)
	}
}
