package callers

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
)

// Role is what a caller may see: its own deliberations, or every one.
type Role string

const (
	// RoleCaller sees, cancels and lists only the deliberations it created.
	RoleCaller Role = "caller"
	// RoleOperator sees, cancels and lists every deliberation.
	RoleOperator Role = "operator"
)

// Names the service gives the callers that no file names; a file may not use them.
const (
	// TokenOperator is the holder of API_TOKEN.
	TokenOperator = "api-token"
	// Anonymous is every caller when no authentication is configured: an operator, as before
	// callers had names.
	Anonymous = "anonymous"
)

// Quota bounds one caller. Zero values mean "no bound" once Resolve applied the defaults.
type Quota struct {
	// MaxActive is how many of its deliberations may be active at once.
	MaxActive int
	// SubmitRate is how many executes per second it may make in the long run (a token bucket
	// refilled at this rate), SubmitBurst how many at once.
	SubmitRate  float64
	SubmitBurst int
}

// Caller is an authenticated caller.
type Caller struct {
	Name string
	Role Role
	// Quota is this caller's own; Limited says whether it applies (the operator of API_TOKEN and
	// the anonymous caller are bound by the service-wide limits only).
	Quota   Quota
	Limited bool
}

// SeesAll tells whether c may read, cancel and list every caller's deliberations.
func (c Caller) SeesAll() bool { return c.Role == RoleOperator }

// Owns tells whether c may see a deliberation recorded with the caller name owner: an operator
// sees every one (those recorded before callers had names, with no owner, included); a caller its own.
func (c Caller) Owns(owner string) bool { return c.SeesAll() || (owner != "" && owner == c.Name) }

type ctxKey struct{}

// With returns ctx carrying c.
func With(ctx context.Context, c Caller) context.Context { return context.WithValue(ctx, ctxKey{}, c) }

// From returns the caller of ctx. A context no transport authenticated (the service's own work: the
// reconcile pass, wake-ups, tests of the use cases) is the anonymous operator.
func From(ctx context.Context) Caller {
	if c, ok := ctx.Value(ctxKey{}).(Caller); ok {
		return c
	}
	return Caller{Name: Anonymous, Role: RoleOperator}
}

// Directory authenticates bearer tokens: it holds the SHA-256 of every configured token, never the
// token itself.
type Directory struct {
	byHash map[[32]byte]Caller
	byName map[string]Caller
	// Broker is the caller Knative's Broker deliveries act as; empty: none. Without BrokerOIDC, a
	// CloudEvent without an Authorization header acts as it; with BrokerOIDC, a CloudEvent whose
	// bearer token BrokerOIDC accepts does, and one without a token is nobody.
	Broker     string
	BrokerOIDC TokenVerifier
}

// NewDirectory builds the directory of the named callers and, when apiToken is set, the operator
// holding it.
func NewDirectory(named []Caller, hashes [][32]byte, apiToken, broker string) *Directory {
	d := &Directory{byHash: map[[32]byte]Caller{}, byName: map[string]Caller{}, Broker: broker}
	for i, c := range named {
		d.byHash[hashes[i]] = c
		d.byName[c.Name] = c
	}
	if apiToken != "" {
		c := Caller{Name: TokenOperator, Role: RoleOperator}
		d.byHash[sha256.Sum256([]byte(apiToken))] = c
		d.byName[c.Name] = c
	}
	return d
}

// On tells whether any token is configured: without one every request is the anonymous operator.
func (d *Directory) On() bool { return d != nil && len(d.byHash) > 0 }

// ByToken returns the caller holding token. The token is hashed first and looked up by its hash,
// so the lookup's timing depends on the hash, which tells nothing of the token.
func (d *Directory) ByToken(token string) (Caller, bool) {
	if d == nil {
		return Caller{}, false
	}
	c, ok := d.byHash[sha256.Sum256([]byte(token))]
	return c, ok
}

// ByName returns a configured caller by name.
func (d *Directory) ByName(name string) (Caller, bool) {
	if d == nil {
		return Caller{}, false
	}
	c, ok := d.byName[name]
	return c, ok
}

// BrokerByOIDC returns the Broker's caller when token is a Broker OIDC token BrokerOIDC accepts;
// the error is ErrIssuerUnavailable or *Rejected.
func (d *Directory) BrokerByOIDC(ctx context.Context, token string) (Caller, string, error) {
	b, ok := d.ByName(d.Broker)
	if !ok || d.BrokerOIDC == nil {
		return Caller{}, "", &Rejected{Reason: "Broker OIDC is not configured"}
	}
	subject, err := d.BrokerOIDC.Verify(ctx, token)
	if err != nil {
		return Caller{}, "", err
	}
	return b, subject, nil
}

// TokenVerifier checks a Broker OIDC token (brokertoken.Verifier): its subject, or
// ErrIssuerUnavailable or *Rejected.
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (subject string, err error)
}

// ErrIssuerUnavailable: the OIDC issuer's discovery document or keys could not be fetched; the
// request may succeed later.
var ErrIssuerUnavailable = errors.New("the Broker's OIDC issuer cannot be reached")

// Rejected is a token that failed a check; Reason is short, for the logs only. Subject is set
// when the token was valid but its subject is not listed, so an operator can see which to add.
type Rejected struct{ Reason, Subject string }

func (r *Rejected) Error() string { return "Broker OIDC token rejected: " + r.Reason }

// LooksLikeJWT tells a compact JWS (three base64url parts, a JSON header) from an opaque token.
func LooksLikeJWT(token string) bool {
	return strings.Count(token, ".") == 2 && strings.HasPrefix(token, "eyJ")
}
