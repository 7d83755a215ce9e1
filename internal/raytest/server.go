// Package raytest is an in-process fake of the Ray Jobs REST API, for tests and benchmarks of
// code that talks to Ray. It answers as the real server does, where that differs from the
// published spec (see shared/reference/ray-jobs-openapi.yml): submit and list live at /api/jobs/
// with the trailing slash, a duplicate submission id is an HTTP 500 whose traceback says "Please
// use a different submission_id", stop and delete answer {"stopped": bool} and {"deleted": bool},
// deleting a running job is an HTTP 500 naming its "non-terminal state", errors are text/plain,
// job_id is null (no driver connected) and packages live at /api/packages/gcs/<name>. Like Ray
// 2.60, a job deleted within 1.5 s of its end comes back as a FAILED ghost record (its job monitor
// rewrites it), and a stop of a pending job takes effect only when the job would have started.
//
// Jobs follow an Outcome chosen by their entrypoint (pending, running, then succeeded or failed
// with logs), computed from the clock when read, so thousands of jobs cost no goroutines. Knobs
// inject faults (status codes, stalls, dropped connections, also after a request took effect),
// override a job's state, require a bearer token and count requests per route.
//
// Flow and its helpers are the end-to-end harness both Ray adapters' real-head tests share: the
// use cases on a real Redis, an adapter on the head, the fake model server.
package raytest

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Route names one endpoint of the API, for faults and counts.
type Route string

const (
	RouteVersion    Route = "version"
	RouteSubmit     Route = "submit"
	RouteList       Route = "list"
	RouteGet        Route = "get"
	RouteStop       Route = "stop"
	RouteDelete     Route = "delete"
	RouteLogs       Route = "logs"
	RoutePackageGet Route = "package_get"
	RoutePackagePut Route = "package_put"
)

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	srv *httptest.Server

	mu       sync.Mutex
	jobs     map[string]*job
	order    []string
	packages map[string][]byte
	outcomes map[string]Outcome
	fallback Outcome
	ghosts   map[string]time.Time
	faults   []*fault
	counts   map[Route]int
	token    string
	now      func() time.Time
}

// New starts a fake on a free loopback port; Close stops it.
func New() *Server {
	s := &Server{
		jobs: map[string]*job{}, packages: map[string][]byte{}, outcomes: map[string]Outcome{},
		ghosts: map[string]time.Time{}, counts: map[Route]int{}, now: time.Now,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/version", s.route(RouteVersion, s.version))
	mux.HandleFunc("POST /api/jobs/{$}", s.route(RouteSubmit, s.submit))
	mux.HandleFunc("GET /api/jobs/{$}", s.route(RouteList, s.list))
	mux.HandleFunc("GET /api/jobs/{id}", s.route(RouteGet, s.get))
	mux.HandleFunc("DELETE /api/jobs/{id}", s.route(RouteDelete, s.delete))
	mux.HandleFunc("POST /api/jobs/{id}/stop", s.route(RouteStop, s.stop))
	mux.HandleFunc("GET /api/jobs/{id}/logs", s.route(RouteLogs, s.logs))
	mux.HandleFunc("GET /api/packages/{protocol}/{name}", s.route(RoutePackageGet, s.packageGet))
	mux.HandleFunc("PUT /api/packages/{protocol}/{name}", s.route(RoutePackagePut, s.packagePut))
	// aiohttp's answer to any other path. /api/jobs is named so that ServeMux answers it instead
	// of redirecting it to /api/jobs/, which Ray does not do.
	notFound := func(w http.ResponseWriter, _ *http.Request) { text(http.StatusNotFound, "404: Not Found").write(w) }
	mux.HandleFunc("/api/jobs", notFound)
	mux.HandleFunc("/", notFound)
	s.srv = httptest.NewServer(mux)
	return s
}

// Start starts a fake that tb's cleanup closes.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s := New()
	tb.Cleanup(s.Close)
	return s
}

// URL is the dashboard address to give a client, e.g. http://127.0.0.1:40123.
func (s *Server) URL() string { return s.srv.URL }

// Close stops the server, waiting for requests in flight (stalled ones end with their clients).
func (s *Server) Close() {
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// RequireToken makes every request need `Authorization: Bearer <token>`, as Ray's token auth
// does: 401 without one, 403 with another. An empty token turns auth off.
func (s *Server) RequireToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = token
}

// Count is how many requests reached route, faulted and refused ones included.
func (s *Server) Count(route Route) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[route]
}

// ResetCounts sets every count back to zero.
func (s *Server) ResetCounts() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.counts)
}

// answer is a response to write: JSON when body is set, text/plain otherwise.
type answer struct {
	status int
	body   any
	text   string
}

func text(status int, msg string) answer { return answer{status: status, text: msg} }

func jsonAnswer(body any) answer { return answer{status: http.StatusOK, body: body} }

// route wraps a handler with what every request goes through: counting, auth and faults.
func (s *Server) route(route Route, h func(*http.Request) answer) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.counts[route]++
		token := s.token
		s.mu.Unlock()
		if token != "" {
			switch got := r.Header.Get("Authorization"); {
			case got == "":
				text(http.StatusUnauthorized, "Unauthorized: Missing authentication token").write(w)
				return
			case got != "Bearer "+token:
				text(http.StatusForbidden, "Forbidden: Invalid authentication token").write(w)
				return
			}
		}
		if s.applyFault(w, r, route, false) {
			return
		}
		a := h(r)
		if s.applyFault(w, r, route, true) {
			return
		}
		a.write(w)
	}
}
