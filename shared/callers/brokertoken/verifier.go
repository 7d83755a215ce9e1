// Package brokertoken checks the tokens Knative's Broker sends when its OIDC is on, with go-oidc:
// the one place of the functions that verifies JWTs.
package brokertoken

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/rayexecutor/functions/shared/callers"
)

// Verifier checks the tokens Knative's Broker sends when its OIDC is on: JWTs of the Trigger's
// service account, signed by the issuer, for Audience, and (when Subjects is not empty) of one of
// those subjects. Discovery is lazy: the functions start while the issuer is down, and the first
// request that needs it fetches it (at most once per retryEvery after a failure).
type Verifier struct {
	issuer, audience string
	subjects         map[string]bool
	client           *http.Client
	retryEvery       time.Duration
	// fetchFailures counts the issuer's unreachable answers: go-oidc flattens the error of a key
	// refetch into text, so a failure during a Verify is how "try later" is told from "bad token".
	fetchFailures *atomic.Int64

	mu       sync.Mutex
	verifier *oidc.IDTokenVerifier
	failedAt time.Time
}

// NewBrokerOIDC returns the checker of issuer's tokens for audience; client fetches discovery
// and keys (nil: one with the default transport).
func New(issuer, audience string, subjects []string, client *http.Client) *Verifier {
	if client == nil {
		client = &http.Client{}
	}
	failures := &atomic.Int64{}
	tagged := *client
	tagged.Transport = unavailableTagger{next: client.Transport, failures: failures}
	if tagged.Timeout == 0 {
		tagged.Timeout = 5 * time.Second
	}
	allowed := map[string]bool{}
	for _, s := range subjects {
		allowed[s] = true
	}
	return &Verifier{issuer: issuer, audience: audience, subjects: allowed, client: &tagged, retryEvery: 2 * time.Second,
		fetchFailures: failures}
}

// Verify checks token's signature (the issuer's keys, cached by go-oidc), issuer, audience, expiry
// and subject. It returns callers.ErrIssuerUnavailable when the issuer could not be asked, *Rejected
// when the token fails a check.
func (b *Verifier) Verify(ctx context.Context, token string) (subject string, err error) {
	v, err := b.discovered()
	if err != nil {
		return "", err
	}
	failuresBefore := b.fetchFailures.Load()
	t, err := v.Verify(ctx, token)
	if err != nil {
		var down unavailableError
		if errors.As(err, &down) || b.fetchFailures.Load() != failuresBefore {
			return "", callers.ErrIssuerUnavailable
		}
		return "", &callers.Rejected{Reason: reason(err)}
	}
	if len(b.subjects) > 0 && !b.subjects[t.Subject] {
		return "", &callers.Rejected{Reason: "subject not listed in BROKER_OIDC_SUBJECTS", Subject: t.Subject}
	}
	return t.Subject, nil
}

// discovered returns the verifier, fetching the issuer's discovery document the first time.
func (b *Verifier) discovered() (*oidc.IDTokenVerifier, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.verifier != nil {
		return b.verifier, nil
	}
	if !b.failedAt.IsZero() && time.Since(b.failedAt) < b.retryEvery {
		return nil, callers.ErrIssuerUnavailable
	}
	p, err := oidc.NewProvider(oidc.ClientContext(context.Background(), b.client), b.issuer)
	if err != nil {
		b.failedAt = time.Now()
		return nil, errors.Join(callers.ErrIssuerUnavailable, err)
	}
	// The algorithms accepted are those the discovery document lists that go-oidc supports
	// (Kubernetes signs with RS256); "none" never is.
	b.verifier = p.Verifier(&oidc.Config{ClientID: b.audience})
	return b.verifier, nil
}

// reason names the failed check in a few words, for the logs.
func reason(err error) string {
	var expired *oidc.TokenExpiredError
	msg := err.Error()
	switch {
	case errors.As(err, &expired):
		return "expired"
	case strings.Contains(msg, "audience"):
		return "wrong audience"
	case strings.Contains(msg, "different provider"):
		return "wrong issuer"
	case strings.Contains(msg, "signature"):
		return "bad signature"
	case strings.Contains(msg, "malformed"):
		return "malformed token"
	}
	return "invalid token"
}

// unavailableError marks a failure to reach the issuer (network error or 5xx), so Verify can
// tell "try later" from "bad token" through go-oidc's wrapped errors.
type unavailableError struct{ cause string }

func (e unavailableError) Error() string { return "issuer unavailable: " + e.cause }

// unavailableTagger turns transport errors and 5xx answers into unavailableError.
type unavailableTagger struct {
	next     http.RoundTripper
	failures *atomic.Int64
}

func (t unavailableTagger) RoundTrip(r *http.Request) (*http.Response, error) {
	next := t.next
	if next == nil {
		next = http.DefaultTransport
	}
	res, err := next.RoundTrip(r)
	if err != nil {
		t.failures.Add(1)
		return nil, unavailableError{cause: err.Error()}
	}
	if res.StatusCode >= 500 {
		t.failures.Add(1)
		_ = res.Body.Close()
		return nil, unavailableError{cause: res.Status}
	}
	return res, nil
}
