package httpapi

import (
	"net/http"
	"strings"

	"github.com/rayexecutor/functions/shared/callers"
	"github.com/rayexecutor/functions/shared/transport"
)

// authenticate finds the caller of r: the anonymous operator when no token is configured; the
// holder of the bearer token presented (compared by its SHA-256, callers.Directory.ByToken); the
// Broker's caller for a CloudEvent sent without an Authorization header when BROKER_CALLER is set
// (Knative's Broker sends no token). false: no caller, the request needs a valid token.
func authenticate(dir *callers.Directory, r *http.Request, event bool) (callers.Caller, bool) {
	if !dir.On() {
		return callers.From(r.Context()), true
	}
	header, present := r.Header["Authorization"]
	if !present {
		if b, ok := dir.ByName(dir.Broker); ok && dir.Broker != "" && event {
			return b, true
		}
		return callers.Caller{}, false
	}
	if len(header) != 1 {
		return callers.Caller{}, false
	}
	scheme, token, ok := strings.Cut(header[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return callers.Caller{}, false
	}
	return dir.ByToken(strings.TrimSpace(token))
}

// unauthorized answers 401 with the challenge RFC 6750 asks for.
func (h *handlers) unauthorized(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="ray-executor"`)
	h.fail(w, r, transport.ErrUnauthorized)
}
