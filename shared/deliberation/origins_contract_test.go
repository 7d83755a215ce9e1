package deliberation

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// originCase is one case of shared/rayjob/contract/origins.json, the URL-origin rules the
// functions and the job share.
type originCase struct {
	URL        string `json:"url"`
	Origin     string `json:"origin"`
	Base       string `json:"base"`
	Refused    string `json:"refused"`
	IDNA       bool   `json:"idna"`
	JobRefuses string `json:"job_refuses"`
}

func originCases(t *testing.T) []originCase {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "rayjob", "contract", "origins.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Cases []originCase }
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Cases) == 0 {
		t.Fatal("origins.json holds no cases")
	}
	return doc.Cases
}

// TestOriginContract checks the shared URL-origin cases against canonicalURL and ParseOrigin
// without an IDNA mapper; the cases only a mapper decides are checked in shared/config, which
// holds the deployment's.
func TestOriginContract(t *testing.T) {
	t.Parallel()
	for _, c := range originCases(t) {
		if c.IDNA {
			continue
		}
		t.Run(c.URL, func(t *testing.T) {
			canonical, o, err := canonicalURL(c.URL, nil)
			if c.Refused != "" {
				if err == nil || err.Error() != c.Refused {
					t.Fatalf("%q: %q, %v; want refused: %s", c.URL, canonical, err, c.Refused)
				}
				return
			}
			if err != nil || o.String() != c.Origin || canonical != c.Origin+c.Base {
				t.Fatalf("%q: origin %q, url %q, %v; want %q and base %q", c.URL, o.String(), canonical, err, c.Origin, c.Base)
			}
			// The canonical origin is an allowlist entry that parses back to itself.
			if again, err := ParseOrigin(c.Origin, nil); err != nil || again != o {
				t.Fatalf("ParseOrigin(%q) = %q, %v", c.Origin, again.String(), err)
			}
		})
	}
}
