package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSpecialHostContract checks every case of shared/rayjob/contract/special_hosts.json (the
// hosts "*" does not reach, which the runner and the job refuse alike: test_special_hosts.py) as
// the deployment validates a request under VLLM_URL_ALLOWLIST=*, and that a list naming the
// origin reaches it all the same.
func TestSpecialHostContract(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join("..", "rayjob", "contract", "special_hosts.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Cases []struct {
			URL     string
			Special bool
		}
	}
	if err := json.Unmarshal(data, &doc); err != nil || len(doc.Cases) == 0 {
		t.Fatalf("special_hosts.json: %d cases, %v", len(doc.Cases), err)
	}
	for _, c := range doc.Cases {
		t.Run(c.URL, func(t *testing.T) {
			got, problem := modelURL(t, "*", c.URL)
			refused := strings.Contains(problem, "link-local and cloud metadata addresses")
			if refused != c.Special || (!c.Special && problem != "") {
				t.Fatalf("%q under *: %q %q; want special=%v", c.URL, got, problem, c.Special)
			}
			origin := strings.Join(strings.SplitN(c.URL, "/", 4)[:3], "/")
			if got, problem := modelURL(t, origin, c.URL); got == "" {
				t.Fatalf("%q with %s listed: refused: %s", c.URL, origin, problem)
			}
		})
	}
}
