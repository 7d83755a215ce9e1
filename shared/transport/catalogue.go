package transport

import (
	"net/http"

	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/proto/fleet/ray_executor/v1/executorv1connect"
)

// Function names a deployable function; its entry in Catalogue says what it serves.
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

// UseCase names what a route, an event type or a procedure runs; it is also the route label of
// the request metrics and the log line.
type UseCase string

const (
	UseExecute   UseCase = "execute"
	UseStatus    UseCase = "status"
	UseCancel    UseCase = "cancel"
	UseStats     UseCase = "stats"
	UseJobs      UseCase = "jobs"
	UseWake      UseCase = "wake"
	UseReconcile UseCase = "reconcile"
)

// Ports are the outbound ports a function is wired with. The state store is every function's.
type Ports struct {
	Store bool
	// Ray dispatches deliberations and watches their attempts; Events publishes their lifecycle
	// (when NATS is configured). Only the functions that change a deliberation's state have them.
	Ray, Events bool
}

// Route is one plain (non-CloudEvent) HTTP route: a ServeMux pattern (docs/api.md), its method
// and its use case. A GET route without {id} reads the id from the query.
type Route struct {
	Method  string
	Pattern string
	UseCase UseCase
}

// Entry is one function in the catalogue. Every function also takes CloudEvents on POST /, and
// on any POST route.
type Entry struct {
	Ports      Ports
	Routes     []Route
	Events     map[string]UseCase // CloudEvent type -> use case (docs/api.md, "CloudEvents")
	Procedures map[string]UseCase // RPC procedure -> use case (docs/grpc.md)
}

var (
	readOnly = Ports{Store: true}
	stateful = Ports{Store: true, Ray: true, Events: true}

	executeProcedures = map[string]UseCase{
		executorv1connect.RayExecutorServiceExecuteDeliberationProcedure:              UseExecute,
		executorv1connect.RayExecutorServiceExecuteBacklogReviewDeliberationProcedure: UseExecute,
	}
	statusProcedures = map[string]UseCase{executorv1connect.RayExecutorServiceGetDeliberationStatusProcedure: UseStatus}
	statsProcedures  = map[string]UseCase{executorv1connect.RayExecutorServiceGetStatusProcedure: UseStats}
	jobsProcedures   = map[string]UseCase{executorv1connect.RayExecutorServiceGetActiveJobsProcedure: UseJobs}
)

// Catalogue is every function: the one place that says what each serves and needs. Wiring reads
// the ports, the surfaces the routes, event types and procedures, and a test compares it with
// docs/api.md and docs/grpc.md. The combined function serves all four under path prefixes.
var Catalogue = map[Function]Entry{
	FunctionExecute: {
		Ports:      stateful,
		Routes:     []Route{{http.MethodPost, "/{$}", UseExecute}},
		Events:     map[string]UseCase{TypeExecuteRequested: UseExecute},
		Procedures: executeProcedures,
	},
	FunctionStatus: {
		Ports: stateful,
		Routes: []Route{
			{http.MethodGet, "/{$}", UseStatus},
			{http.MethodGet, "/{id}", UseStatus},
			{http.MethodDelete, "/{id}", UseCancel},
		},
		Events: map[string]UseCase{TypeStatusRequested: UseStatus, TypeCancelRequested: UseCancel,
			deliberation.TypeFinished: UseWake, TypePing: UseReconcile},
		Procedures: statusProcedures,
	},
	FunctionStats: {
		Ports:      readOnly,
		Routes:     []Route{{http.MethodGet, "/{$}", UseStats}},
		Events:     map[string]UseCase{TypeStatsRequested: UseStats},
		Procedures: statsProcedures,
	},
	FunctionJobs: {
		Ports:      readOnly,
		Routes:     []Route{{http.MethodGet, "/{$}", UseJobs}},
		Events:     map[string]UseCase{TypeJobsRequested: UseJobs},
		Procedures: jobsProcedures,
	},
	FunctionCombined: {
		Ports: stateful,
		Routes: []Route{
			{http.MethodPost, "/deliberations", UseExecute},
			{http.MethodGet, "/deliberations/{id}", UseStatus},
			{http.MethodDelete, "/deliberations/{id}", UseCancel},
			{http.MethodGet, "/stats", UseStats},
			{http.MethodGet, "/jobs", UseJobs},
		},
		Events: map[string]UseCase{TypeExecuteRequested: UseExecute, TypeStatusRequested: UseStatus,
			TypeCancelRequested: UseCancel, TypeStatsRequested: UseStats, TypeJobsRequested: UseJobs,
			deliberation.TypeFinished: UseWake, TypePing: UseReconcile},
		Procedures: merged(executeProcedures, statusProcedures, statsProcedures, jobsProcedures),
	},
}

// NeedsRay reports whether the function is wired with Ray (config.Options.NeedsRay).
func (f Function) NeedsRay() bool { return Catalogue[f].Ports.Ray }

// UseCases are the use cases an entry serves on any surface.
func (e Entry) UseCases() map[UseCase]bool {
	uses := map[UseCase]bool{}
	for _, r := range e.Routes {
		uses[r.UseCase] = true
	}
	for _, u := range e.Events {
		uses[u] = true
	}
	for _, u := range e.Procedures {
		uses[u] = true
	}
	return uses
}

func merged(ms ...map[string]UseCase) map[string]UseCase {
	out := map[string]UseCase{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}
