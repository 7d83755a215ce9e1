package httpapi

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/rayexecutor/functions/shared/transport"
)

// eventRoute is one accepted CloudEvent type: the route it counts under and its handler.
type eventRoute struct {
	route  string
	handle eventHandler
}

// mount adds the routes and CloudEvent types of the function's catalogue entry (docs/api.md). A
// function takes CloudEvents on POST / and on each of its POST routes; POST / takes nothing else
// unless a route says so.
func (h *handlers) mount(e transport.Entry) error {
	paths := map[string]methods{"/{$}": {http.MethodPost: h.post(nil)}}
	for _, r := range e.Routes {
		f, err := h.plain(r)
		if err != nil {
			return err
		}
		if paths[r.Pattern] == nil {
			paths[r.Pattern] = methods{}
		}
		paths[r.Pattern][r.Method] = f
	}
	for pattern, m := range paths {
		h.mux.Handle(pattern, m)
	}
	byUseCase := map[transport.UseCase]eventHandler{
		transport.UseExecute: h.executeEvent, transport.UseStatus: h.statusEvent, transport.UseCancel: h.cancelEvent,
		transport.UseStats: h.statsEvent, transport.UseJobs: h.jobsEvent,
		transport.UseWake: h.wakeEvent, transport.UseReconcile: h.reconcileEvent,
	}
	h.events = make(map[string]eventRoute, len(e.Events))
	for typ, u := range e.Events {
		handle, ok := byUseCase[u]
		if !ok {
			return fmt.Errorf("httpapi: no CloudEvent handler for use case %q", u)
		}
		h.events[typ] = eventRoute{route: string(u), handle: handle}
	}
	return nil
}

// plain is the handler of one route; a POST route takes CloudEvents too.
func (h *handlers) plain(r transport.Route) (http.HandlerFunc, error) {
	var f http.HandlerFunc
	switch r.UseCase {
	case transport.UseExecute:
		f = h.executeHTTP
	case transport.UseStatus:
		f = h.statusByQuery
		if strings.Contains(r.Pattern, "{id}") {
			f = h.statusByPath
		}
	case transport.UseCancel:
		f = h.cancelHTTP
	case transport.UseStats:
		f = h.statsHTTP
	case transport.UseJobs:
		f = h.jobsHTTP
	default:
		return nil, fmt.Errorf("httpapi: no route handler for use case %q", r.UseCase)
	}
	if r.Method == http.MethodPost {
		return h.post(f), nil
	}
	return f, nil
}
