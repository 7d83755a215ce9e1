package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rayexecutor/functions/functions/internal/functest"
	"github.com/rayexecutor/functions/internal/launcher"
)

// TestNamedCallersThroughTheBinaries runs execute-deliberation, this function and get-active-jobs
// as built, over one Redis and one CALLERS_FILE of two callers and an operator: neither caller
// reads, cancels or lists the other's deliberations (404, as an unknown id); each has its own
// active bound and its own submit rate (429 with Retry-After); the operator sees both.
func TestNamedCallersThroughTheBinaries(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := launcher.Build(context.Background(), launcher.GoBuild{Out: dir,
		Packages: []string{"../execute-deliberation", ".", "../get-active-jobs"}}); err != nil {
		t.Fatal(err)
	}
	hash := func(tok string) string { s := sha256.Sum256([]byte(tok)); return hex.EncodeToString(s[:]) }
	file := filepath.Join(dir, "callers.json")
	if err := os.WriteFile(file, []byte(`{"callers": [
		{"name": "alice", "token_sha256": "`+hash("tok-alice")+`", "role": "caller", "max_active": 2, "submit_rate": 0.01, "submit_burst": 4},
		{"name": "bob", "token_sha256": "`+hash("tok-bob")+`", "role": "caller"},
		{"name": "ops", "token_sha256": "`+hash("tok-ops")+`", "role": "operator"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	stack := functest.NewStack(t)
	env := stack.Env(map[string]string{"CALLERS_FILE": file, "CALLER_MAX_ACTIVE": "3", "CALLER_SUBMIT_RATE": "5",
		"ID_SECRET": strings.Repeat("s", 32)})
	execute := functest.Start(t, filepath.Join(dir, "execute-deliberation"), env)
	status := functest.Start(t, filepath.Join(dir, "get-deliberation-status"), env)
	jobs := functest.Start(t, filepath.Join(dir, "get-active-jobs"), env)
	as := func(tok string) []string {
		return []string{"Authorization", "Bearer " + tok, "Content-Type", "application/json"}
	}
	submit := func(tok string, want int) functest.Response {
		t.Helper()
		got := functest.Call(t, http.MethodPost, execute.URL+"/", functest.ValidRequest, as(tok)...)
		if got.Status != want {
			t.Fatalf("execute as %s: %d %s, want %d", tok, got.Status, got.Body, want)
		}
		return got
	}
	id := func(r functest.Response) string { return r.JSON(t)["deliberation_id"].(string) }

	alice1, alice2 := id(submit("tok-alice", http.StatusAccepted)), id(submit("tok-alice", http.StatusAccepted))
	full := submit("tok-alice", http.StatusTooManyRequests) // her own bound of 2 (the file's), not the default 3
	if full.Header.Get("Retry-After") == "" || !strings.Contains(string(full.Body), "caller alice has 2 deliberations active") {
		t.Fatalf("alice at her bound: %s %s", full.Header, full.Body)
	}
	bob1 := id(submit("tok-bob", http.StatusAccepted)) // alice's bound is hers alone

	for _, c := range []struct{ tok, other string }{{"tok-alice", bob1}, {"tok-bob", alice1}} {
		got := functest.Call(t, http.MethodGet, status.URL+"/"+c.other, "", as(c.tok)...)
		if got.Status != http.StatusNotFound || got.JSON(t)["status"] != "not_found" || strings.Contains(string(got.Body), "task-1") {
			t.Fatalf("%s reading another's %s: %d %s", c.tok, c.other, got.Status, got.Body)
		}
		if got := functest.Call(t, http.MethodDelete, status.URL+"/"+c.other, "", as(c.tok)...); got.Status != http.StatusNotFound {
			t.Fatalf("%s cancelling another's %s: %d %s", c.tok, c.other, got.Status, got.Body)
		}
	}
	if got := functest.Call(t, http.MethodGet, status.URL+"/"+bob1, "", as("tok-bob")...); got.JSON(t)["status"] == "cancelled" || got.JSON(t)["caller"] != "bob" {
		t.Fatalf("bob's own after alice's cancel: %s", got.Body)
	}
	listed := func(tok string) map[string]bool {
		t.Helper()
		got := functest.Call(t, http.MethodGet, jobs.URL+"/?limit=100", "", as(tok)...)
		out := map[string]bool{}
		for _, j := range got.JSON(t)["jobs"].([]any) {
			out[j.(map[string]any)["job_id"].(string)] = true
		}
		return out
	}
	if l := listed("tok-alice"); len(l) != 2 || !l[alice1] || !l[alice2] {
		t.Fatalf("alice lists %v", l)
	}
	if l := listed("tok-bob"); len(l) != 1 || !l[bob1] {
		t.Fatalf("bob lists %v", l)
	}
	if l := listed("tok-ops"); len(l) != 3 {
		t.Fatalf("the operator lists %v, want all 3", l)
	}
	for _, x := range []string{alice1, bob1} {
		if got := functest.Call(t, http.MethodGet, status.URL+"/"+x, "", as("tok-ops")...); got.Status != http.StatusOK {
			t.Fatalf("the operator reading %s: %d", x, got.Status)
		}
	}

	// Her rate: a burst of 4 then one every 100 s; every submit takes a token, the one her bound
	// refused too. A cancel frees a slot; her fourth submit takes
	// the last token; the next is refused by the rate, with its wait, however many slots are free.
	if got := functest.Call(t, http.MethodDelete, status.URL+"/"+alice1, "", as("tok-alice")...); got.Status != http.StatusAccepted {
		t.Fatalf("alice cancelling hers: %d %s", got.Status, got.Body)
	}
	alice3 := id(submit("tok-alice", http.StatusAccepted))
	if got := functest.Call(t, http.MethodDelete, status.URL+"/"+alice3, "", as("tok-alice")...); got.Status != http.StatusAccepted {
		t.Fatalf("alice cancelling hers: %d", got.Status)
	}
	rated := submit("tok-alice", http.StatusTooManyRequests)
	if ra, _ := strconv.Atoi(rated.Header.Get("Retry-After")); ra < 90 || ra > 100 || !strings.Contains(string(rated.Body), "submits faster") {
		t.Fatalf("alice past her rate: Retry-After %q, %s", rated.Header.Get("Retry-After"), rated.Body)
	}
	submit("tok-bob", http.StatusAccepted) // bob's bucket is his own
	functest.Call(t, http.MethodGet, jobs.URL+"/", "").Problem(t, http.StatusUnauthorized)
}
