package raytest

import (
	"net/http"
	"time"
)

// Forever is a duration no test outlives: a job pending Forever never starts (as when the cluster
// lacks the resources it asks for), a fault delayed Forever stalls until the client gives up.
const Forever = 100 * 365 * 24 * time.Hour

// Fault disturbs requests to a route.
type Fault struct {
	// Route is the endpoint hit; "" hits every route.
	Route Route
	// Delay holds the answer back this long, or until the client gives up.
	Delay time.Duration
	// Status, when set, answers with this status and Body (text/plain) instead of the real answer.
	Status int
	Body   string
	// Drop closes the connection without an answer.
	Drop bool
	// AfterHandling applies the fault once the request took effect (a job was created, say), so
	// the client cannot tell whether it did: the ambiguous failures Ray clients must survive.
	AfterHandling bool
	// Times is how many requests the fault hits; 0 hits all of them until ClearFaults.
	Times int
}

type fault struct {
	Fault
	left int
}

// Inject adds a fault; faults apply in the order they were injected, one per request and stage.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &fault{Fault: f, left: f.Times})
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// takeFault returns the first fault for route at this stage and uses one of its hits.
func (s *Server) takeFault(route Route, after bool) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if (f.Route != "" && f.Route != route) || f.AfterHandling != after {
			continue
		}
		if f.Times > 0 {
			f.left--
			if f.left == 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		return f.Fault, true
	}
	return Fault{}, false
}

// applyFault applies the fault of this stage, if any, and reports whether it answered.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, route Route, after bool) bool {
	f, ok := s.takeFault(route, after)
	if !ok {
		return false
	}
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return true
		}
	}
	switch {
	case f.Drop:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return true
			}
		}
		panic(http.ErrAbortHandler) // closes the connection where hijacking is not possible
	case f.Status != 0:
		text(f.Status, f.Body).write(w)
		return true
	}
	return false
}
