package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOriginContract checks every case of shared/rayjob/contract/origins.json (the URL-origin
// rules the functions and the job share) as the deployment validates a request: with its IDNA
// mapper, under VLLM_URL_ALLOWLIST=*. shared/deliberation checks the same cases without a mapper.
func TestOriginContract(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join("..", "rayjob", "contract", "origins.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Cases []struct{ URL, Origin, Base, Refused string }
	}
	if err := json.Unmarshal(data, &doc); err != nil || len(doc.Cases) == 0 {
		t.Fatalf("origins.json: %d cases, %v", len(doc.Cases), err)
	}
	for _, c := range doc.Cases {
		t.Run(c.URL, func(t *testing.T) {
			got, problem := modelURL(t, "*", c.URL)
			if c.Refused != "" {
				// NewRequest refuses control characters in any field before it parses a URL.
				want := "vllm_url: vllm_url " + c.Refused
				if strings.ContainsFunc(c.URL, func(r rune) bool { return r < ' ' }) {
					want = "vllm_url: vllm_url cannot hold control characters"
				}
				if !strings.HasSuffix(problem, want) {
					t.Fatalf("%q: %q %q; want refused: %s", c.URL, got, problem, c.Refused)
				}
				return
			}
			if got != c.Origin+c.Base {
				t.Fatalf("%q: %q %s; want %q", c.URL, got, problem, c.Origin+c.Base)
			}
		})
	}
}
