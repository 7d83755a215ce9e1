package transport_test

import (
	"bufio"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/rayexecutor/functions/shared/proto/fleet/ray_executor/v1/executorv1connect"
	"github.com/rayexecutor/functions/shared/transport"
)

// table returns the cells of the Markdown table whose header row starts with header, one slice
// per row, code spans unquoted.
func table(t *testing.T, doc, header string) [][]string {
	t.Helper()
	f, err := os.Open(doc)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows [][]string
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, header):
			in = true
		case in && strings.HasPrefix(line, "|---"):
		case in && strings.HasPrefix(line, "|"):
			cells := strings.Split(strings.Trim(line, "|"), "|")
			for i, c := range cells {
				cells[i] = strings.TrimSpace(c)
			}
			rows = append(rows, cells)
		case in:
			in = false
		}
	}
	if err := sc.Err(); err != nil || len(rows) == 0 {
		t.Fatalf("%s: no table %q (%v)", doc, header, err)
	}
	return rows
}

// codeSpans are the `...` spans of a cell.
func codeSpans(cell string) []string {
	parts := strings.Split(cell, "`")
	var out []string
	for i := 1; i < len(parts); i += 2 {
		out = append(out, parts[i])
	}
	return out
}

// docUseCases names the use cases as docs/api.md's route table does.
var docUseCases = map[string]transport.UseCase{"execute": transport.UseExecute, "status": transport.UseStatus,
	"cancel": transport.UseCancel, "stats": transport.UseStats, "active jobs": transport.UseJobs}

// routeOf turns a route as the page writes it ("GET /?limit=&cursor=") into the catalogue's.
func routeOf(t *testing.T, s string, u transport.UseCase) transport.Route {
	t.Helper()
	method, target, ok := strings.Cut(s, " ")
	if !ok {
		t.Fatalf("route %q is not METHOD PATH", s)
	}
	path, _, _ := strings.Cut(target, "?")
	if path == "/" {
		path = "/{$}"
	}
	return transport.Route{Method: method, Pattern: path, UseCase: u}
}

func sortRoutes(rs []transport.Route) []transport.Route {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b transport.Route) int {
		return strings.Compare(a.Method+a.Pattern+string(a.UseCase), b.Method+b.Pattern+string(b.UseCase))
	})
	return rs
}

// TestRoutesAreDocumented compares the catalogue's routes with docs/api.md's route table, for each
// function and for the combined one.
func TestRoutesAreDocumented(t *testing.T) {
	t.Parallel()
	documented := map[transport.Function][]transport.Route{}
	for _, row := range table(t, "../../docs/api.md", "| use case | function |") {
		u, ok := docUseCases[row[0]]
		if !ok {
			continue // the CloudEvents row: see TestEventTypesAreDocumented
		}
		f := transport.Function(strings.Trim(row[1], "`"))
		for _, r := range codeSpans(row[2]) {
			documented[f] = append(documented[f], routeOf(t, r, u))
		}
		for _, r := range codeSpans(row[3]) {
			documented[transport.FunctionCombined] = append(documented[transport.FunctionCombined], routeOf(t, r, u))
		}
	}
	for f, e := range transport.Catalogue {
		if got, want := sortRoutes(e.Routes), sortRoutes(documented[f]); !slices.Equal(got, want) {
			t.Errorf("%s: catalogue routes %v, docs/api.md %v", f, got, want)
		}
	}
	if len(documented) != len(transport.Catalogue) {
		t.Errorf("docs/api.md documents %d functions, the catalogue has %d", len(documented), len(transport.Catalogue))
	}
}

// TestEventTypesAreDocumented compares the catalogue's CloudEvent types with docs/api.md's table.
func TestEventTypesAreDocumented(t *testing.T) {
	t.Parallel()
	documented := map[transport.Function][]string{}
	var f transport.Function
	for _, row := range table(t, "../../docs/api.md", "| function | accepts |") {
		switch {
		case row[0] == "combined":
			continue
		case row[0] != "":
			f = transport.Function(strings.Trim(row[0], "`"))
		}
		typ := codeSpans(row[1])[0]
		documented[f] = append(documented[f], typ)
		documented[transport.FunctionCombined] = append(documented[transport.FunctionCombined], typ)
	}
	for f, e := range transport.Catalogue {
		if got, want := slices.Sorted(maps.Keys(e.Events)), slices.Sorted(slices.Values(documented[f])); !slices.Equal(got, want) {
			t.Errorf("%s: catalogue event types %v, docs/api.md %v", f, got, want)
		}
	}
}

// TestProceduresAreDocumented compares the catalogue's RPC procedures with docs/grpc.md's table.
func TestProceduresAreDocumented(t *testing.T) {
	t.Parallel()
	documented := map[transport.Function][]string{}
	for _, row := range table(t, "../../docs/grpc.md", "| RPC | served by |") {
		procedure := "/" + executorv1connect.RayExecutorServiceName + "/" + strings.Trim(row[0], "`")
		for _, name := range strings.Split(row[1], ",") {
			f := transport.Function(strings.TrimSpace(name))
			if f == "combined" {
				f = transport.FunctionCombined
			}
			documented[f] = append(documented[f], procedure)
		}
	}
	for f, e := range transport.Catalogue {
		if got, want := slices.Sorted(maps.Keys(e.Procedures)), slices.Sorted(slices.Values(documented[f])); !slices.Equal(got, want) {
			t.Errorf("%s: catalogue procedures %v, docs/grpc.md %v", f, got, want)
		}
	}
}

// TestEveryFunctionIsCatalogued: each function built from functions/<name>, and the combined one,
// has an entry, and only the functions that change state are wired with Ray and events.
func TestEveryFunctionIsCatalogued(t *testing.T) {
	t.Parallel()
	for _, f := range append(slices.Clone(transport.Functions), transport.FunctionCombined) {
		e, ok := transport.Catalogue[f]
		if !ok {
			t.Fatalf("%s has no catalogue entry", f)
		}
		uses := e.UseCases()
		changes := uses[transport.UseExecute] || uses[transport.UseCancel] || uses[transport.UseReconcile]
		if !e.Ports.Store || e.Ports.Ray != changes || e.Ports.Events != changes || f.NeedsRay() != changes {
			t.Errorf("%s: ports %+v for use cases %v", f, e.Ports, uses)
		}
	}
}
