package transport

import (
	"fmt"
	"net/http"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// Function names a deployable function: which use cases it serves and at which paths.
type Function string

const (
	FunctionExecute  Function = "execute-deliberation"
	FunctionStatus   Function = "get-deliberation-status"
	FunctionStats    Function = "get-stats"
	FunctionJobs     Function = "get-active-jobs"
	FunctionCombined Function = "ray-executor"
)

// Functions are the four use-case functions, each built from functions/<name>.
var Functions = []Function{FunctionStats, FunctionStatus, FunctionJobs, FunctionExecute}

// NeedsRay reports whether the function talks to Ray (execute submits, status advances jobs).
func (f Function) NeedsRay() bool {
	return f == FunctionExecute || f == FunctionStatus || f == FunctionCombined
}

// eventRoute is one accepted CloudEvent type: the route it counts under and its handler.
type eventRoute struct {
	route  string
	handle eventHandler
}

// layout is the function's paths (docs/api.md) and the CloudEvent types it accepts
// (docs/events.md). The combined function serves every path under a prefix and takes every event
// type on POST /.
func (h *handlers) layout(f Function) (map[string]http.Handler, map[string]eventRoute, error) {
	execute := eventRoute{"execute", h.executeEvent}
	status := eventRoute{"status", h.statusEvent}
	stats := eventRoute{"stats", h.statsEvent}
	jobs := eventRoute{"jobs", h.jobsEvent}
	cancel := eventRoute{"cancel", h.cancelEvent}
	switch f {
	case FunctionExecute:
		return map[string]http.Handler{
			"/{$}": methods{http.MethodPost: h.post(h.executeHTTP)},
		}, map[string]eventRoute{deliberation.TypeExecuteRequested: execute}, nil
	case FunctionStatus:
		return map[string]http.Handler{
			"/{$}":  methods{http.MethodGet: h.statusByQuery, http.MethodPost: h.post(nil)},
			"/{id}": methods{http.MethodGet: h.statusByPath, http.MethodDelete: h.cancelHTTP},
		}, h.withHooks(map[string]eventRoute{deliberation.TypeStatusRequested: status, deliberation.TypeCancelRequested: cancel}), nil
	case FunctionStats:
		return map[string]http.Handler{
			"/{$}": methods{http.MethodGet: h.statsHTTP, http.MethodPost: h.post(nil)},
		}, map[string]eventRoute{deliberation.TypeStatsRequested: stats}, nil
	case FunctionJobs:
		return map[string]http.Handler{
			"/{$}": methods{http.MethodGet: h.jobsHTTP, http.MethodPost: h.post(nil)},
		}, map[string]eventRoute{deliberation.TypeJobsRequested: jobs}, nil
	case FunctionCombined:
		return map[string]http.Handler{
				"/{$}":                methods{http.MethodPost: h.post(nil)},
				"/deliberations":      methods{http.MethodPost: h.post(h.executeHTTP)},
				"/deliberations/{id}": methods{http.MethodGet: h.statusByPath, http.MethodDelete: h.cancelHTTP},
				"/stats":              methods{http.MethodGet: h.statsHTTP},
				"/jobs":               methods{http.MethodGet: h.jobsHTTP},
			}, h.withHooks(map[string]eventRoute{
				deliberation.TypeExecuteRequested: execute, deliberation.TypeStatusRequested: status,
				deliberation.TypeStatsRequested: stats, deliberation.TypeJobsRequested: jobs,
				deliberation.TypeCancelRequested: cancel,
			}), nil
	}
	return nil, nil, fmt.Errorf("unknown function %q", f)
}

// withHooks adds the wake-up and the reconcile trigger, which only the status function (and the
// combined one) accept, when the backend has them.
func (h *handlers) withHooks(routes map[string]eventRoute) map[string]eventRoute {
	if h.backend.Waker != nil {
		routes[deliberation.TypeFinished] = eventRoute{"wake", h.wakeEvent}
	}
	if h.backend.Reconciler != nil {
		routes[deliberation.TypePing] = eventRoute{"reconcile", h.reconcileEvent}
	}
	return routes
}
