package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/rayexecutor/functions/shared/transport"
)

// bearer checks the Authorization header against the configured token. Both sides are hashed
// first so the comparison takes the same time whatever the lengths, leaking neither the token's
// content nor its length.
type bearer struct {
	want [32]byte
	on   bool
}

func newBearer(token string) bearer {
	return bearer{want: sha256.Sum256([]byte(token)), on: token != ""}
}

func (b bearer) allows(r *http.Request) bool {
	if !b.on {
		return true
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return subtle.ConstantTimeCompare(got[:], b.want[:]) == 1
}

// unauthorized answers 401 with the challenge RFC 6750 asks for.
func (h *handlers) unauthorized(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="ray-executor"`)
	h.fail(w, r, transport.ErrUnauthorized)
}
