package httpapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/rayexecutor/functions/shared/callers"
	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/transport"
)

var (
	// errBrokerToken answers a CloudEvent whose JWT is not a Broker OIDC token this subscriber
	// accepts; which check failed goes to the log only.
	errBrokerToken = deliberation.Errorf(deliberation.CodeUnauthorized,
		"the bearer token is neither a caller's token nor a Broker OIDC token accepted for this subscriber")
	// errIssuerDown answers a CloudEvent whose JWT cannot be checked now: the Broker retries it.
	errIssuerDown = deliberation.Errorf(deliberation.CodeUnavailable,
		"the Broker's OIDC issuer cannot be reached to check the token; retry later")
)

// authenticate finds the caller of r: the anonymous operator when no token is configured; the
// holder of the bearer token presented (compared by its SHA-256, callers.Directory.ByToken); the
// Broker's caller for a CloudEvent when BROKER_CALLER is set: with Broker OIDC configured, one
// whose JWT the issuer signed for our audience and an allowed subject, otherwise one sent without
// an Authorization header (the NetworkPolicy is then the only guard). false: no caller, the
// request needs a valid token. err is set for a CloudEvent whose JWT was rejected (errBrokerToken)
// or could not be checked (errIssuerDown).
func (h *handlers) authenticate(r *http.Request, event bool) (callers.Caller, bool, error) {
	dir := h.auth
	if !dir.On() {
		return callers.From(r.Context()), true, nil
	}
	header, present := r.Header["Authorization"]
	if !present {
		if b, ok := dir.ByName(dir.Broker); ok && dir.Broker != "" && dir.BrokerOIDC == nil && event {
			return b, true, nil
		}
		return callers.Caller{}, false, nil
	}
	if len(header) != 1 {
		return callers.Caller{}, false, nil
	}
	scheme, token, ok := strings.Cut(header[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return callers.Caller{}, false, nil
	}
	token = strings.TrimSpace(token)
	if c, ok := dir.ByToken(token); ok {
		return c, true, nil
	}
	if !event || dir.BrokerOIDC == nil || !callers.LooksLikeJWT(token) {
		return callers.Caller{}, false, nil
	}
	c, subject, err := dir.BrokerByOIDC(r.Context(), token)
	var rejected *callers.Rejected
	switch {
	case errors.As(err, &rejected):
		h.log.WarnContext(r.Context(), "Broker OIDC token rejected", "reason", rejected.Reason,
			"subject", deliberation.Printable(deliberation.Shorten(rejected.Subject, 200)))
		return callers.Caller{}, false, errBrokerToken
	case err != nil:
		h.log.WarnContext(r.Context(), "Broker OIDC token not checked: issuer unavailable", "error", err)
		return callers.Caller{}, false, errIssuerDown
	}
	h.log.DebugContext(r.Context(), "Broker OIDC token accepted", "subject", deliberation.Printable(subject))
	return c, true, nil
}

// unauthorized answers 401 with the challenge RFC 6750 asks for.
func (h *handlers) unauthorized(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="ray-executor"`)
	h.fail(w, r, transport.ErrUnauthorized)
}

// authFailed answers a CloudEvent whose Broker OIDC token was rejected (401, invalid_token) or
// could not be checked (503 with Retry-After).
func (h *handlers) authFailed(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errBrokerToken) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ray-executor", error="invalid_token"`)
	}
	h.fail(w, r, err)
}
