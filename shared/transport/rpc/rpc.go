package rpc

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
	executorv1 "github.com/rayexecutor/functions/shared/proto/fleet/ray_executor/v1"
	"github.com/rayexecutor/functions/shared/proto/fleet/ray_executor/v1/executorv1connect"
	"github.com/rayexecutor/functions/shared/transport"
	"github.com/rayexecutor/functions/shared/transport/observe"
)

// Config is what the RPC surface of one function needs.
type Config struct {
	Function transport.Function
	Backend  transport.Backend
	// MaxBodyBytes bounds a request message, as MAX_BODY_BYTES bounds a JSON body.
	MaxBodyBytes int64
	Log          *slog.Logger
	// Tracing makes a server span of every RayExecutorService call (otelconnect), which the HTTP
	// server spans then leave to it (TracesItself).
	Tracing bool
}

// Surface serves RayExecutorService (gRPC, gRPC-Web and Connect, through connect-go) on the same
// use cases, validation, idempotency, auth, limits and metrics as the JSON routes. Each function
// owns the procedures of its catalogue entry; the others answer UNIMPLEMENTED naming who serves
// them.
type Surface struct {
	cfg  Config
	owns map[string]transport.UseCase
	// errors writes an error in the framing of the RPC protocol a request speaks.
	errors *connect.ErrorWriter
}

// healthPrefix is open without a token, like the HTTP health probes: it says nothing but SERVING.
var healthPrefix = "/" + grpchealth.HealthV1ServiceName + "/"

// Mount adds the service, gRPC health and server reflection (so grpcurl needs no .proto) to mux.
func Mount(mux *http.ServeMux, cfg Config) *Surface {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s := &Surface{cfg: cfg, owns: transport.Catalogue[cfg.Function].Procedures}
	// Small answers go uncompressed: gzip costs more CPU than it saves bytes below a kilobyte, and
	// connect-go would otherwise compress every answer a client accepts gzip for.
	// The read limit also bounds a gzip message's inflated size, checked while it inflates.
	opts := []connect.HandlerOption{connect.WithReadMaxBytes(int(cfg.MaxBodyBytes)), connect.WithCompressMinBytes(1 << 10),
		gzipCapped(cfg.MaxBodyBytes)}
	service := opts
	if cfg.Tracing {
		service = append(slices.Clone(opts), connect.WithInterceptors(tracingInterceptor()))
	}
	mux.Handle(executorv1connect.NewRayExecutorServiceHandler(server{s}, service...))
	mux.Handle(grpchealth.NewHandler(grpchealth.NewStaticChecker(executorv1connect.RayExecutorServiceName), opts...))
	reflector := grpcreflect.NewStaticReflector(executorv1connect.RayExecutorServiceName, grpchealth.HealthV1ServiceName)
	mux.Handle(grpcreflect.NewHandlerV1(reflector, opts...))
	mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector, opts...))
	s.errors = connect.NewErrorWriter(opts...)
	return s
}

// server is the generated service interface over a Surface.
type server struct{ s *Surface }

// Transport names the protocol of an RPC request for the metrics and the log line.
func Transport(r *http.Request) string {
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

// Under reports whether the request's path is under an RPC service prefix, whatever its protocol
// or content type: every such path but health needs the token, so the check does not depend on
// how connect-go would classify the request.
func Under(r *http.Request) bool {
	for _, prefix := range rpcServices {
		if strings.HasPrefix(r.URL.Path, prefix) {
			return true
		}
	}
	return false
}

// Calls reports whether the request calls an RPC service in one of its protocols: it gets its
// errors (401 included) in that protocol's framing rather than as problem+json. The path decides
// first, since a plain JSON POST also looks like a Connect call.
func (s *Surface) Calls(r *http.Request) bool {
	return Under(r) && s.errors.IsSupported(r)
}

// Health reports whether the request calls gRPC health, which is open without a token.
func Health(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, healthPrefix) }

// Unauthenticated answers a request without a valid token in the framing of its protocol.
func (s *Surface) Unauthenticated(w http.ResponseWriter, r *http.Request) {
	in := observe.RequestFrom(r.Context())
	in.RPC, in.RPCCode = true, connect.CodeUnauthenticated
	_ = s.errors.Write(w, r, rpcError(transport.ErrUnauthorized))
}

// call runs one procedure's use case: it checks the function owns the procedure, records what the
// request log and metrics need, and maps an error to its RPC status.
func call[Res any](ctx context.Context, s *Surface, procedure string, do func() (*Res, string, error)) (*connect.Response[Res], error) {
	in := observe.RequestFrom(ctx)
	in.RPC = true
	defer observe.NameRPCSpan(ctx, in)
	route, ok := s.owns[procedure]
	if !ok {
		in.RPCCode = connect.CodeUnimplemented
		return nil, connect.NewError(connect.CodeUnimplemented, fmt.Errorf("%s is not served by the %s function (docs/grpc.md)", procedure, s.cfg.Function))
	}
	in.Route = string(route)
	res, id, err := do()
	in.DeliberationID = id
	if err != nil {
		ce := rpcError(err)
		in.RPCCode = ce.Code()
		observe.LogFailure(ctx, s.cfg.Log, err, HTTPStatus(ce.Code()))
		return nil, ce
	}
	return connect.NewResponse(res), nil
}

func (v server) ExecuteDeliberation(ctx context.Context, req *connect.Request[executorv1.ExecuteDeliberationRequest]) (*connect.Response[executorv1.ExecuteDeliberationResponse], error) {
	return call(ctx, v.s, req.Spec().Procedure, func() (*executorv1.ExecuteDeliberationResponse, string, error) {
		return v.execute(ctx, req.Header(), executeInput(req.Msg))
	})
}

func (v server) ExecuteBacklogReviewDeliberation(ctx context.Context, req *connect.Request[executorv1.ExecuteBacklogReviewDeliberationRequest]) (*connect.Response[executorv1.ExecuteDeliberationResponse], error) {
	return call(ctx, v.s, req.Spec().Procedure, func() (*executorv1.ExecuteDeliberationResponse, string, error) {
		return v.execute(ctx, req.Header(), backlogReviewInput(req.Msg))
	})
}

// execute takes the `idempotency-key` metadata as the JSON route takes the Idempotency-Key header.
func (v server) execute(ctx context.Context, md http.Header, input deliberation.RequestInput) (*executorv1.ExecuteDeliberationResponse, string, error) {
	key, err := transport.IdempotencyKey(md)
	if err != nil {
		return nil, "", err
	}
	sub, err := v.s.cfg.Backend.Execute.Execute(ctx, app.ExecuteCommand{Input: input, IdempotencyKey: key})
	if err != nil {
		return nil, "", err
	}
	return submissionMessage(sub), sub.DeliberationID, nil
}

// GetDeliberationStatus answers NOT_FOUND for an unknown id, where the JSON route answers 404.
func (v server) GetDeliberationStatus(ctx context.Context, req *connect.Request[executorv1.GetDeliberationStatusRequest]) (*connect.Response[executorv1.GetDeliberationStatusResponse], error) {
	return call(ctx, v.s, req.Spec().Procedure, func() (*executorv1.GetDeliberationStatusResponse, string, error) {
		rep, err := v.s.cfg.Backend.Status.Status(ctx, req.Msg.DeliberationId)
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
func (v server) GetStatus(ctx context.Context, req *connect.Request[executorv1.GetStatusRequest]) (*connect.Response[executorv1.GetStatusResponse], error) {
	return call(ctx, v.s, req.Spec().Procedure, func() (*executorv1.GetStatusResponse, string, error) {
		rep, err := v.s.cfg.Backend.Stats.Stats(ctx)
		if err != nil {
			return nil, "", err
		}
		return statsMessage(rep, req.Msg.IncludeStats), "", nil
	})
}

func (v server) GetActiveJobs(ctx context.Context, req *connect.Request[executorv1.GetActiveJobsRequest]) (*connect.Response[executorv1.GetActiveJobsResponse], error) {
	return call(ctx, v.s, req.Spec().Procedure, func() (*executorv1.GetActiveJobsResponse, string, error) {
		limit := int(req.Msg.PageSize)
		if limit == 0 {
			limit = app.DefaultJobsLimit
		}
		page, err := v.s.cfg.Backend.Jobs.ActiveJobs(ctx, limit, req.Msg.PageToken)
		if err != nil {
			return nil, "", err
		}
		return jobsMessage(page), "", nil
	})
}

var _ executorv1connect.RayExecutorServiceHandler = server{}
