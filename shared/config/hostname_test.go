package config

import (
	"net/url"
	"strings"
	"testing"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// modelURL validates a request naming raw under VLLM_URL_ALLOWLIST=allowlist and returns the
// vllm_url the job would receive, or the problem.
func modelURL(t testing.TB, allowlist, raw string) (string, string) {
	t.Helper()
	c, err := Load(env(map[string]string{"REDIS_URL": "redis://127.0.0.1:6379", "VLLM_URL_ALLOWLIST": allowlist}), Options{})
	if err != nil {
		t.Fatalf("VLLM_URL_ALLOWLIST=%q: %v", allowlist, err)
	}
	req, err := deliberation.NewRequest(deliberation.RequestInput{
		TaskID: "t", TaskDescription: "d", Role: "DEV", Constraints: deliberation.ConstraintsInput{StoryID: "s"},
		Agents:  []deliberation.AgentConfig{{AgentID: "a1", Role: "DEV", Model: "m"}},
		VLLMURL: raw, VLLMModel: "judge",
	}, deliberation.Limits{Allowlist: c.Allowlist})
	if err != nil {
		return "", deliberation.ErrorMessage(err) + ": " + err.Error()
	}
	return req.VLLMURL, ""
}

// TestUnicodeHostsAreComparedAsTheJobCallsThem: a host is compared in the ASCII form the job's
// resolver calls, so a look-alike of an allowed name (İ lowercases to i) is another origin.
func TestUnicodeHostsAreComparedAsTheJobCallsThem(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ allowlist, raw string }{
		{"https://api.deepinfra.com", "https://api.deepİnfra.com"},       // İ lowercases to i
		{"https://api.deepinfra.com", "https://api.deepinfra.com\u3002"}, // an ideographic full stop
	} {
		if got, problem := modelURL(t, c.allowlist, c.raw); problem == "" {
			t.Errorf("%q passed the allowlist %s as %q", c.raw, c.allowlist, got)
		}
	}
	if got, problem := modelURL(t, "*", "https://api.deepİnfra.com/v1/openai"); got != "https://api.xn--deepinfra-9jf.com:443/v1/openai" {
		t.Errorf("under *: %q %s; want the A-label form the job calls", got, problem)
	}
	for _, c := range []struct{ allowlist, raw, want string }{
		{"https://bücher.example", "https://xn--bcher-kva.example", "https://xn--bcher-kva.example:443"},
		{"https://xn--bcher-kva.example", "https://BÜCHER.example/v1", "https://xn--bcher-kva.example:443/v1"},
		{"http://ａｐｉ.example:8000", "http://api.example:8000", "http://api.example:8000"},
		// IDNA maps the Kelvin sign to k, as the job's resolver does: the same host, not a look-alike.
		{"https://kserve.example", "https://\u212Aserve.example", "https://kserve.example:443"},
	} {
		if got, problem := modelURL(t, c.allowlist, c.raw); got != c.want {
			t.Errorf("%q under %q: %q %s; want %q", c.raw, c.allowlist, got, problem, c.want)
		}
	}
	for _, raw := range []string{"https://xn--zz.example", "https://a\u200db.example", "https://under_score.example"} {
		if _, problem := modelURL(t, "*", raw); !strings.Contains(problem, "vllm_url host is not a valid host name") {
			t.Errorf("%q: problem %q", raw, problem)
		}
	}
	for _, entry := range []string{"https://xn--zz.example", "https://under_score.example", "http://0xa9fea9fe"} {
		if _, err := Load(env(map[string]string{"VLLM_URL_ALLOWLIST": entry}), Options{Local: true}); err == nil {
			t.Errorf("allowlist entry %q accepted", entry)
		}
	}
}

// FuzzModelURL feeds the canonicaliser: what it accepts it accepts again unchanged, in printable
// ASCII and without user information, query or fragment, and the canonical origin of an accepted URL parses back
// to itself and, listed alone, allows that URL.
func FuzzModelURL(f *testing.F) {
	for _, s := range []string{
		"https://api.deepİnfra.com", "http://[::1]:8000/v1/", "HTTP://Bücher.Example./x", "http://2852039166",
		"http://a%2e.b", "http://127.0.0.1:8000/a b/", "https://xn--bcher-kva.example:443", "http://h:08000//x/%2F",
		"http://[fe80::1%25eth0]", "http://169.254.169.254", "http://u@h", "http://h/?", "http://ａｂ.example",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		canonical, problem := modelURL(t, "*", raw)
		if problem != "" {
			return
		}
		if again, problem := modelURL(t, "*", canonical); again != canonical {
			t.Fatalf("%q -> %q -> %q %s: not idempotent", raw, canonical, again, problem)
		}
		for i := 0; i < len(canonical); i++ {
			if canonical[i] <= ' ' || canonical[i] >= 0x7f || strings.IndexByte("?#", canonical[i]) >= 0 {
				t.Fatalf("%q -> %q holds %q", raw, canonical, canonical[i])
			}
		}
		u, err := url.Parse(canonical)
		if err != nil || u.Port() == "" || u.User != nil {
			t.Fatalf("%q -> %q: %v, port %q, user %v", raw, canonical, err, u.Port(), u.User)
		}
		origin := u.Scheme + "://" + u.Host
		o, err := deliberation.ParseOrigin(origin, hostToASCII)
		if err != nil || o.String() != origin {
			t.Fatalf("origin %q of %q parses to %q, %v", origin, canonical, o.String(), err)
		}
		if got, problem := modelURL(t, origin, raw); got != canonical {
			t.Fatalf("%q under its own origin %q: %q %s", raw, origin, got, problem)
		}
	})
}
