package deliberation

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// modelURLProblem is the vllm_url problem NewRequest reports for raw under lim, "" when none.
func modelURLProblem(t *testing.T, raw string, lim Limits) string {
	t.Helper()
	in := validInput()
	in.VLLMURL = raw
	_, err := NewRequest(in, lim)
	var e *Error
	if !errors.As(err, &e) {
		return ""
	}
	for _, f := range e.Fields {
		if f.Field == "vllm_url" {
			return f.Message
		}
	}
	t.Fatalf("NewRequest(%q) failed on other fields: %v", raw, err)
	return ""
}

// TestModelURLIsCanonical: the request keeps vllm_url in the one form the allowlist compared and
// the job calls: lowercase host without a trailing dot, explicit port, no trailing "/".
func TestModelURLIsCanonical(t *testing.T) {
	for raw, want := range map[string]string{
		"HTTP://VLLM.Local:8000/v1/": "http://vllm.local:8000/v1",
		"http://vllm.local":          "http://vllm.local:80",
		"https://vllm.local./":       "https://vllm.local:443",
		"http://vllm.local:08000":    "http://vllm.local:8000",
		"http://[0:0::1]:8000":       "http://[::1]:8000",
		"http://127.0.0.1:8000/a b":  "http://127.0.0.1:8000/a%20b",
	} {
		in := validInput()
		in.VLLMURL = raw
		req, err := NewRequest(in, open)
		if err != nil || req.VLLMURL != want {
			t.Errorf("NewRequest(%q): vllm_url %q, %v; want %q", raw, req.VLLMURL, err, want)
		}
	}
}

// TestModelURLIsOnlyAnOriginAndABase: nothing but scheme://host[:port][/base] reaches the job.
func TestModelURLIsOnlyAnOriginAndABase(t *testing.T) {
	const shape = "vllm_url must be scheme://host[:port][/path], without user information, query or fragment"
	for _, raw := range []string{
		"http://vllm.local:8000/v1?api-version=1", "http://vllm.local:8000/v1?", "http://vllm.local:8000/#frag",
		"http://vllm.local:8000#", "http://user:pass@vllm.local:8000", "http://user@vllm.local:8000",
	} {
		if got := modelURLProblem(t, raw, open); got != shape {
			t.Errorf("%q: problem %q, want %q", raw, got, shape)
		}
	}
	if got := modelURLProblem(t, "http://vllm.local:\x00", open); got != "vllm_url cannot hold control characters" {
		t.Errorf("control character: %q", got)
	}
}

// TestEmptyAllowlistAllowsNothing: a deployment that names no model server calls none, and says
// which setting to change.
func TestEmptyAllowlistAllowsNothing(t *testing.T) {
	for _, raw := range []string{"http://127.0.0.1:8000", "http://169.254.169.254", "https://models.example"} {
		if got := modelURLProblem(t, raw, Limits{}); !strings.Contains(got, "VLLM_URL_ALLOWLIST is empty") {
			t.Errorf("%q under an empty allowlist: problem %q, want one naming VLLM_URL_ALLOWLIST", raw, got)
		}
	}
	if got := (Limits{}).JobPolicy().AllowedOrigins; got == nil || len(got) != 0 {
		t.Errorf("allowed_origins = %#v, want an empty list", got)
	}
}

// TestStarRefusesMetadataAndLinkLocal: "*" reaches neither link-local addresses nor the cloud
// metadata services, however the address is spelt; an allowlist that names one allows it.
func TestStarRefusesMetadataAndLinkLocal(t *testing.T) {
	for _, raw := range []string{
		"http://169.254.169.254/latest/meta-data", "http://169.254.1.1:8000", "http://[fe80::1]:8000",
		"http://[fd00:ec2::254]", "http://metadata.google.internal", "http://METADATA.google.internal.",
		"http://metadata", "http://100.100.100.200", "http://[64:ff9b::a9fe:a9fe]",
	} {
		if got := modelURLProblem(t, raw, open); !strings.Contains(got, "link-local and cloud metadata") {
			t.Errorf("%q under *: problem %q", raw, got)
		}
	}
	for _, raw := range []string{"http://127.0.0.1:8000", "http://[::1]:8000", "https://api.deepinfra.com/v1/openai", "http://10.0.0.7"} {
		if got := modelURLProblem(t, raw, open); got != "" {
			t.Errorf("%q under *: %q", raw, got)
		}
	}
	if got := modelURLProblem(t, "http://169.254.169.254", allowing(t, "http://169.254.169.254:80")); got != "" {
		t.Errorf("a listed metadata address was refused: %q", got)
	}
}

// TestNumericHostsMustBeCanonical: the spellings of 169.254.169.254 that resolvers accept but are
// not dotted quads are refused, under "*" and against a list alike.
func TestNumericHostsMustBeCanonical(t *testing.T) {
	listed := allowing(t, "http://169.254.169.254")
	for raw, want := range map[string]string{
		"http://2852039166":               "vllm_url host must be a dotted-quad IPv4 address",
		"http://0251.0376.0251.0376":      "vllm_url host must be a dotted-quad IPv4 address",
		"http://0xa9fea9fe":               "vllm_url host must be a dotted-quad IPv4 address",
		"http://0xA9.0xFE.0xA9.0xFE":      "vllm_url host must be a dotted-quad IPv4 address",
		"http://169.254.43518":            "vllm_url host must be a dotted-quad IPv4 address",
		"http://models.0x1":               "vllm_url host must be a dotted-quad IPv4 address",
		"http://[::ffff:169.254.169.254]": "vllm_url host is an IPv4-mapped IPv6 address: write the IPv4 address",
		"http://[::ffff:a9fe:a9fe]":       "vllm_url host is an IPv4-mapped IPv6 address: write the IPv4 address",
		"http://[fe80::1%25eth0]":         "vllm_url host is not a valid IPv6 address",
		"http://bad_host":                 "vllm_url host is not a valid host name",
		"http://a..b":                     "vllm_url host is not a valid host name",
		"http://-a.example":               "vllm_url host is not a valid host name",
		"http://deepİnfra.com":            "vllm_url host is not a valid host name", // no Unicode without a mapper
		"http://\u212Aelvin.example":      "vllm_url host is not a valid host name", // nor the Kelvin sign
		"http://vllm.local:70000":         "vllm_url port must be 1 to 65535",
	} {
		for _, lim := range []Limits{open, listed} {
			if got := modelURLProblem(t, raw, lim); got != want {
				t.Errorf("%q: problem %q, want %q", raw, got, want)
			}
		}
	}
}

func TestParseAllowlist(t *testing.T) {
	a, err := ParseAllowlist([]string{" HTTPS://Models.Example ", "http://[::1]:8000/", "http://10.0.0.7:8000"}, nil)
	want := []string{"https://models.example:443", "http://[::1]:8000", "http://10.0.0.7:8000"}
	if err != nil || !slices.Equal(a.Origins(), want) {
		t.Fatalf("origins %v, %v; want %v", a.Origins(), err, want)
	}
	if a, err := ParseAllowlist([]string{" * "}, nil); err != nil || !slices.Equal(a.Origins(), []string{"*"}) {
		t.Fatalf("*: origins %v, %v", a.Origins(), err)
	}
	_, err = ParseAllowlist([]string{"http://ok:1", "", "*", "http://user:secret@x", "http://2852039166"}, nil)
	for _, msg := range []string{"entry 2 is empty", "entry 3: * must be the only entry", "entry 4: must be only scheme://host[:port]",
		"entry 5: host must be a dotted-quad IPv4 address"} {
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("error %v lacks %q", err, msg)
		}
	}
	if err != nil && strings.Contains(err.Error(), "secret") {
		t.Errorf("error %v repeats an entry's password", err)
	}
	if _, err := ParseAllowlist(slices.Repeat([]string{"http://ok:1"}, 65), nil); err == nil {
		t.Error("an allowlist of 65 entries was accepted")
	}
}

// TestJobPayloadCarriesThePolicy: the job gets the deployment's policy beside the request, and the
// size limit counts it.
func TestJobPayloadCarriesThePolicy(t *testing.T) {
	lim := allowing(t, "http://vllm.local:8000")
	lim.MaxAnswerBytes = 4096
	req, err := NewRequest(validInput(), lim)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := req.JobPayload("delib-x", lim.JobPolicy())
	if err != nil || !strings.Contains(string(payload), `"policy":{"allowed_origins":["http://vllm.local:8000"],"max_answer_bytes":4096}`) {
		t.Fatalf("payload %s, %v", payload, err)
	}
	payload, err = req.JobPayload("delib-x", JobPolicy{})
	if err != nil || !strings.Contains(string(payload), `"policy":{"allowed_origins":[],"max_answer_bytes":65536}`) {
		t.Errorf("payload under the zero policy: %s, %v", payload, err)
	}
}
