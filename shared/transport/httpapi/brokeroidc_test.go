package httpapi_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/rayexecutor/functions/internal/oidctest"
	"github.com/rayexecutor/functions/shared/callers"
	"github.com/rayexecutor/functions/shared/callers/brokertoken"
	"github.com/rayexecutor/functions/shared/deliberation"
	executorv1 "github.com/rayexecutor/functions/shared/proto/fleet/ray_executor/v1"
	"github.com/rayexecutor/functions/shared/transport"
	"github.com/rayexecutor/functions/shared/transport/httpapi"
)

const (
	brokerAudience = "ray-executor-subscriber"
	brokerSubject  = "system:serviceaccount:ray-executor:oidc-trigger"
)

// withBrokerOIDC authenticates alice and the broker's caller by their tokens beside API_TOKEN
// "op-token", and the Broker's deliveries by issuer's JWTs for brokerAudience and brokerSubject.
func withBrokerOIDC(issuer *oidctest.Issuer) option {
	named := []callers.Caller{{Name: "alice", Role: callers.RoleCaller}, {Name: "broker", Role: callers.RoleCaller}}
	hashes := [][32]byte{sha256.Sum256([]byte("tok-alice")), sha256.Sum256([]byte("tok-broker"))}
	return func(o *httpapi.Options, _ *transport.Backend) {
		o.Callers = callers.NewDirectory(named, hashes, "op-token", "broker")
		o.Callers.BrokerOIDC = brokertoken.New(issuer.URL, brokerAudience, []string{brokerSubject}, nil)
	}
}

func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

// TestBrokerOIDCToken: a JWT of the issuer for the subscriber's audience and a listed subject
// makes a CloudEvent act as the broker's caller, which sees only its own deliberations; every other
// JWT, and a CloudEvent without a token, is 401 with a detail that names no check (the log does).
func TestBrokerOIDCToken(t *testing.T) {
	t.Parallel()
	issuer := oidctest.Start(t, false)
	h := newHarness(t, transport.FunctionCombined, withBrokerOIDC(issuer))
	valid := issuer.Token(t, oidctest.Claims{Subject: brokerSubject, Audience: []string{brokerAudience}})

	alice := h.do(h.request(http.MethodPost, "/deliberations", validRequest, bearer("tok-alice")...))
	if alice.status != http.StatusAccepted {
		t.Fatalf("alice's execute: %d %s", alice.status, alice.body)
	}
	aliceID := alice.json(t)["deliberation_id"].(string)
	ev := h.do(h.binary("/", transport.TypeExecuteRequested, "b1", validRequest, bearer(valid)...))
	if ev.status != http.StatusOK {
		t.Fatalf("the Broker's execute event: %d %s", ev.status, ev.body)
	}
	brokerID := ev.json(t)["deliberation_id"].(string)
	if r, _ := h.svc.Status(callers.With(t.Context(), callers.Caller{Name: "broker", Role: callers.RoleCaller}), brokerID); r.Caller != "broker" {
		t.Errorf("the Broker's deliberation records caller %q, want broker", r.Caller)
	}
	jobs := h.do(h.binary("/", transport.TypeJobsRequested, "b2", `{}`, bearer(valid)...)).reply(t, transport.TypeJobs)["jobs"].([]any)
	if len(jobs) != 1 || jobs[0].(map[string]any)["job_id"] != brokerID {
		t.Errorf("the Broker lists %v, want its own %s alone", jobs, brokerID)
	}
	if got := h.do(h.binary("/", transport.TypeStatusRequested, "b3", `{"deliberation_id":"`+aliceID+`"}`, bearer(valid)...)); got.json(t)["status"] != "not_found" {
		t.Errorf("the Broker reads alice's: %s", got.body)
	}
	if keys := issuer.KeyFetches.Load(); keys != 1 {
		t.Errorf("the issuer's keys were fetched %d times for three tokens, want 1 (cached)", keys)
	}

	forger, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rejected := map[string]string{
		"wrong audience":      issuer.Token(t, oidctest.Claims{Subject: brokerSubject, Audience: []string{"another-subscriber"}}),
		"wrong issuer":        issuer.Token(t, oidctest.Claims{Issuer: "https://elsewhere.example", Subject: brokerSubject, Audience: []string{brokerAudience}}),
		"expired":             issuer.Token(t, oidctest.Claims{Subject: brokerSubject, Audience: []string{brokerAudience}, Expiry: time.Now().Add(-time.Minute)}),
		"bad signature":       issuer.TokenSignedBy(t, forger, oidctest.Claims{Subject: brokerSubject, Audience: []string{brokerAudience}}),
		"subject not listed":  issuer.Token(t, oidctest.Claims{Subject: "system:serviceaccount:ray-executor:someone", Audience: []string{brokerAudience}}),
		"payload tampered":    tamper(valid),
		"not a JWT, no token": "",
	}
	for name, tok := range rejected {
		var headers []string
		if tok != "" {
			headers = bearer(tok)
		}
		got := h.do(h.binary("/", transport.TypeExecuteRequested, "x-"+name, validRequest, headers...))
		got.problem(t, http.StatusUnauthorized)
		if tok != "" && !strings.Contains(got.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("%s: WWW-Authenticate %q", name, got.header.Get("WWW-Authenticate"))
		}
		for _, check := range []string{"audience", "expired", "signature", "subject not", "issuer:"} {
			if strings.Contains(string(got.body), check) {
				t.Errorf("%s: the answer names the check %q: %s", name, check, got.body)
			}
		}
	}
	for _, reason := range []string{"wrong audience", "wrong issuer", "expired", "bad signature", "subject not listed"} {
		if !strings.Contains(h.logs.String(), `"reason":"`+reason) {
			t.Errorf("no log line gives the reason %q", reason)
		}
	}
	if !strings.Contains(h.logs.String(), `"subject":"system:serviceaccount:ray-executor:someone"`) {
		t.Error("the log does not name the unlisted subject")
	}
	if jobs := h.do(h.request(http.MethodGet, "/jobs", "", "Authorization", "Bearer op-token")).json(t)["jobs"].([]any); len(jobs) != 2 {
		t.Errorf("after the rejected tokens the operator lists %d jobs, want 2", len(jobs))
	}
	// The Broker's token is for CloudEvents only; caller tokens and the token-less wake-up still work.
	h.do(h.request(http.MethodGet, "/jobs", "", bearer(valid)...)).problem(t, http.StatusUnauthorized)
	if _, err := h.rpc(bearerRPC(valid)).GetActiveJobs(t.Context(), connect.NewRequest(&executorv1.GetActiveJobsRequest{})); rpcCode(t, err) != connect.CodeUnauthenticated {
		t.Errorf("the Broker's token on RPC: %v, want unauthenticated", err)
	}
	if got := h.do(h.binary("/", transport.TypeStatsRequested, "a1", `{}`, bearer("tok-alice")...)); got.status != http.StatusOK {
		t.Errorf("alice's event with OIDC on: %d %s", got.status, got.body)
	}
	if got := h.do(h.binary("/", deliberation.TypeFinished, "w1", `{"deliberation_id":"`+aliceID+`"}`)); got.status != http.StatusOK {
		t.Errorf("the wake-up with OIDC on: %d %s", got.status, got.body)
	}
}

// tamper changes a JWT's payload and keeps its signature.
func tamper(jwt string) string {
	parts := strings.Split(jwt, ".")
	p := []byte(parts[1])
	p[len(p)/2] ^= 1
	return parts[0] + "." + string(p) + "." + parts[2]
}

// TestBrokerOIDCIssuerDown: the functions start while the issuer is down; a Broker token then gets
// 503 with Retry-After (the Broker retries), a token-less event 401; once the issuer is back the
// same token is accepted.
func TestBrokerOIDCIssuerDown(t *testing.T) {
	t.Parallel()
	issuer := oidctest.Start(t, false)
	issuer.SetDown(true)
	h := newHarness(t, transport.FunctionCombined, withBrokerOIDC(issuer))
	valid := issuer.Token(t, oidctest.Claims{Subject: brokerSubject, Audience: []string{brokerAudience}})
	got := h.do(h.binary("/", transport.TypeStatsRequested, "d1", `{}`, bearer(valid)...))
	got.problem(t, http.StatusServiceUnavailable)
	if got.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	h.do(h.binary("/", transport.TypeStatsRequested, "d2", `{}`)).problem(t, http.StatusUnauthorized)
	// An opaque token that matches no caller is no JWT: refused at once, the issuer not asked.
	h.do(h.binary("/", transport.TypeStatsRequested, "d2b", `{}`, bearer("tok-nobody")...)).problem(t, http.StatusUnauthorized)
	issuer.SetDown(false)
	deadline := time.Now().Add(5 * time.Second)
	for {
		got = h.do(h.binary("/", transport.TypeStatsRequested, "d3", `{}`, bearer(valid)...))
		if got.status == http.StatusOK || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got.status != http.StatusOK {
		t.Fatalf("after the issuer came back: %d %s", got.status, got.body)
	}
	// Keys fetched once, the issuer down again: a token under an unknown key cannot be checked.
	issuer.SetDown(true)
	forger, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	forged := issuer.TokenSignedBy(t, forger, oidctest.Claims{Subject: brokerSubject, Audience: []string{brokerAudience}})
	h.do(h.binary("/", transport.TypeStatsRequested, "d4", `{}`, bearer(forged)...)).problem(t, http.StatusServiceUnavailable)
	if got := h.do(h.binary("/", transport.TypeStatsRequested, "d5", `{}`, bearer(valid)...)); got.status != http.StatusOK {
		t.Errorf("a valid token under the cached key while the issuer is down: %d %s", got.status, got.body)
	}
}
