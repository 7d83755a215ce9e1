package transport

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
	executorv1 "github.com/rayexecutor/functions/shared/proto/fleet/ray_executor/v1"
	"github.com/rayexecutor/functions/shared/proto/fleet/ray_executor/v1/executorv1connect"
)

// rpcServer serves RayExecutorService (gRPC, gRPC-Web and Connect, through connect-go) on the same
// use cases, validation, idempotency, auth, limits and metrics as the JSON routes. Each function
// owns the procedures of its use case; the others answer UNIMPLEMENTED naming who serves them.
type rpcServer struct {
	h    *handlers
	owns map[string]string // procedure -> route
}

// rpcProcedures are each function's procedures and the route they are counted under.
var rpcProcedures = map[Function]map[string]string{
	FunctionExecute: {
		executorv1connect.RayExecutorServiceExecuteDeliberationProcedure:              "execute",
		executorv1connect.RayExecutorServiceExecuteBacklogReviewDeliberationProcedure: "execute",
	},
	FunctionStatus: {executorv1connect.RayExecutorServiceGetDeliberationStatusProcedure: "status"},
	FunctionStats:  {executorv1connect.RayExecutorServiceGetStatusProcedure: "stats"},
	FunctionJobs:   {executorv1connect.RayExecutorServiceGetActiveJobsProcedure: "jobs"},
}

// healthPrefix is open without a token, like the HTTP health probes: it says nothing but SERVING.
var healthPrefix = "/" + grpchealth.HealthV1ServiceName + "/"

// mountRPC adds the service, gRPC health and server reflection (so grpcurl needs no .proto) to the
// function's routes.
func (h *handlers) mountRPC() {
	owns := map[string]string{}
	for f, procs := range rpcProcedures {
		if h.opts.Function == f || h.opts.Function == FunctionCombined {
			for p, route := range procs {
				owns[p] = route
			}
		}
	}
	// Small answers go uncompressed: gzip costs more CPU than it saves bytes below a kilobyte, and
	// connect-go would otherwise compress every answer a client accepts gzip for.
	opts := []connect.HandlerOption{connect.WithReadMaxBytes(int(h.opts.MaxBodyBytes)), connect.WithCompressMinBytes(1 << 10)}
	h.mux.Handle(executorv1connect.NewRayExecutorServiceHandler(&rpcServer{h: h, owns: owns}, opts...))
	h.mux.Handle(grpchealth.NewHandler(grpchealth.NewStaticChecker(executorv1connect.RayExecutorServiceName), opts...))
	reflector := grpcreflect.NewStaticReflector(executorv1connect.RayExecutorServiceName, grpchealth.HealthV1ServiceName)
	h.mux.Handle(grpcreflect.NewHandlerV1(reflector, opts...))
	h.mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector, opts...))
	h.rpcErrors = connect.NewErrorWriter(opts...)
}

// rpcTransport names the protocol of an RPC request for the metrics and the log line.
func rpcTransport(r *http.Request) string {
	ct := r.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "application/grpc-web"):
		return "grpc-web"
	case strings.HasPrefix(ct, "application/grpc"):
		return "grpc"
	}
	return "connect"
}

// rpcServices are the path prefixes of the RPC services every function mounts.
var rpcServices = []string{
	"/" + executorv1connect.RayExecutorServiceName + "/", healthPrefix,
	"/" + grpcreflect.ReflectV1ServiceName + "/", "/" + grpcreflect.ReflectV1AlphaServiceName + "/",
}

// isRPC reports whether the request calls an RPC service in one of its protocols: it gets its
// errors (401 included) in that protocol's framing rather than as problem+json. The path decides
// first, since a plain JSON POST also looks like a Connect call.
func (h *handlers) isRPC(r *http.Request) bool {
	for _, prefix := range rpcServices {
		if strings.HasPrefix(r.URL.Path, prefix) {
			return h.rpcErrors.IsSupported(r)
		}
	}
	return false
}

// rpcUnauthenticated answers a request without a valid token in the framing of its protocol.
func (h *handlers) rpcUnauthenticated(w http.ResponseWriter, r *http.Request, in *requestInfo) {
	in.rpc, in.rpcCode = true, connect.CodeUnauthenticated
	_ = h.rpcErrors.Write(w, r, rpcError(errUnauthorized))
}

// call runs one procedure's use case: it checks the function owns the procedure, records what the
// request log and metrics need, and maps an error to its RPC status.
func call[Res any](ctx context.Context, s *rpcServer, procedure string, do func() (*Res, string, error)) (*connect.Response[Res], error) {
	in, _ := ctx.Value(infoKey{}).(*requestInfo)
	if in == nil {
		in = &requestInfo{}
	}
	in.rpc = true
	route, ok := s.owns[procedure]
	if !ok {
		in.rpcCode = connect.CodeUnimplemented
		return nil, connect.NewError(connect.CodeUnimplemented, fmt.Errorf("%s is not served by the %s function (docs/grpc.md)", procedure, s.h.opts.Function))
	}
	in.route = route
	res, id, err := do()
	in.deliberationID = id
	if err != nil {
		ce := rpcError(err)
		in.rpcCode = ce.Code()
		s.h.logFailure(ctx, err, rpcHTTPStatus(ce.Code()))
		return nil, ce
	}
	return connect.NewResponse(res), nil
}

func (s *rpcServer) ExecuteDeliberation(ctx context.Context, req *connect.Request[executorv1.ExecuteDeliberationRequest]) (*connect.Response[executorv1.ExecuteDeliberationResponse], error) {
	return call(ctx, s, req.Spec().Procedure, func() (*executorv1.ExecuteDeliberationResponse, string, error) {
		return s.execute(ctx, req.Header(), executeInput(req.Msg))
	})
}

func (s *rpcServer) ExecuteBacklogReviewDeliberation(ctx context.Context, req *connect.Request[executorv1.ExecuteBacklogReviewDeliberationRequest]) (*connect.Response[executorv1.ExecuteDeliberationResponse], error) {
	return call(ctx, s, req.Spec().Procedure, func() (*executorv1.ExecuteDeliberationResponse, string, error) {
		return s.execute(ctx, req.Header(), backlogReviewInput(req.Msg))
	})
}

// execute takes the `idempotency-key` metadata as the JSON route takes the Idempotency-Key header.
func (s *rpcServer) execute(ctx context.Context, md http.Header, input deliberation.RequestInput) (*executorv1.ExecuteDeliberationResponse, string, error) {
	key, err := idempotencyKey(md)
	if err != nil {
		return nil, "", err
	}
	sub, err := s.h.backend.UseCases.Execute(ctx, app.ExecuteCommand{Input: input, IdempotencyKey: key})
	if err != nil {
		return nil, "", err
	}
	return submissionMessage(sub), sub.DeliberationID, nil
}

// GetDeliberationStatus answers NOT_FOUND for an unknown id, where the JSON route answers 404.
func (s *rpcServer) GetDeliberationStatus(ctx context.Context, req *connect.Request[executorv1.GetDeliberationStatusRequest]) (*connect.Response[executorv1.GetDeliberationStatusResponse], error) {
	return call(ctx, s, req.Spec().Procedure, func() (*executorv1.GetDeliberationStatusResponse, string, error) {
		rep, err := s.h.backend.UseCases.Status(ctx, req.Msg.DeliberationId)
		if err != nil {
			return nil, "", err
		}
		if rep.Status == deliberation.StatusNotFound {
			return nil, "", deliberation.Errorf(deliberation.CodeNotFound, "deliberation %s not found", rep.DeliberationID)
		}
		return statusMessage(rep), rep.DeliberationID, nil
	})
}

// GetStatus reads the counters even without include_stats: healthy means the store answered.
func (s *rpcServer) GetStatus(ctx context.Context, req *connect.Request[executorv1.GetStatusRequest]) (*connect.Response[executorv1.GetStatusResponse], error) {
	return call(ctx, s, req.Spec().Procedure, func() (*executorv1.GetStatusResponse, string, error) {
		rep, err := s.h.backend.UseCases.Stats(ctx)
		if err != nil {
			return nil, "", err
		}
		return statsMessage(rep, req.Msg.IncludeStats), "", nil
	})
}

func (s *rpcServer) GetActiveJobs(ctx context.Context, req *connect.Request[executorv1.GetActiveJobsRequest]) (*connect.Response[executorv1.GetActiveJobsResponse], error) {
	return call(ctx, s, req.Spec().Procedure, func() (*executorv1.GetActiveJobsResponse, string, error) {
		limit := int(req.Msg.PageSize)
		if limit == 0 {
			limit = app.DefaultJobsLimit
		}
		page, err := s.h.backend.UseCases.ActiveJobs(ctx, limit, req.Msg.PageToken)
		if err != nil {
			return nil, "", err
		}
		return jobsMessage(page), "", nil
	})
}

var _ executorv1connect.RayExecutorServiceHandler = (*rpcServer)(nil)
