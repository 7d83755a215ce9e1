package httpapi

import (
	"net/http"
	"slices"
	"strings"

	"github.com/rayexecutor/functions/shared/transport"
)

// methods dispatches one path by method, answering any other method 405 with Allow in
// problem+json (http.ServeMux's own 405 is plain text).
type methods map[string]http.HandlerFunc

func (m methods) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f, ok := m[r.Method]; ok {
		f(w, r)
		return
	}
	allow := make([]string, 0, len(m))
	for method := range m {
		allow = append(allow, method)
	}
	slices.Sort(allow)
	p := transport.ProtocolProblem(http.StatusMethodNotAllowed, "method-not-allowed", "this path accepts "+strings.Join(allow, ", "))
	p.Allow = strings.Join(allow, ", ")
	p.Write(w)
}

func notFound(w http.ResponseWriter, _ *http.Request) {
	transport.ProtocolProblem(http.StatusNotFound, "not-found", "no such path").Write(w)
}
