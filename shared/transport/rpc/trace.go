package rpc

import (
	"net/http"
	"strings"

	"connectrpc.com/otelconnect"

	"github.com/rayexecutor/functions/shared/proto/fleet/ray_executor/v1/executorv1connect"
	"github.com/rayexecutor/functions/shared/transport/observe"
)

// serviceTraced is the path prefix of the procedures otelconnect traces.
var serviceTraced = "/" + executorv1connect.RayExecutorServiceName + "/"

// tracingInterceptor makes one server span per RayExecutorService call, with the RPC semantic
// conventions, continuing the caller's traceparent as the JSON routes do (the callers are the
// platform's own services). Its metrics stay off: the functions export Prometheus.
func tracingInterceptor() *otelconnect.Interceptor {
	i, err := otelconnect.NewInterceptor(otelconnect.WithTrustRemote(), otelconnect.WithoutMetrics(),
		otelconnect.WithPropagator(observe.Propagator))
	if err != nil {
		// Only a metrics setup can fail, and metrics are off.
		panic("otelconnect: " + err.Error())
	}
	return i
}

// TracesItself reports whether the request is a RayExecutorService call that otelconnect makes
// the server span of, so the HTTP layer makes none.
func (s *Surface) TracesItself(r *http.Request) bool {
	return s.cfg.Tracing && strings.HasPrefix(r.URL.Path, serviceTraced)
}
