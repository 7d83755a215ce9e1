package observe

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Propagator is W3C Trace Context and Baggage, what every hop of a deliberation speaks. It is set
// as the global propagator by StartTracing, so the adapters inject with otel.GetTextMapPropagator.
var Propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// noopMeters keeps otelhttp from recording metrics of its own: the Prometheus request metrics
// are the functions' metrics.
var noopMeters = metricnoop.NewMeterProvider()

// TracingOptions say whether and how a function exports spans.
type TracingOptions struct {
	// Enabled is true when an OTLP endpoint is configured; without one nothing is exported and
	// the global tracer provider stays the no-op one, so a span costs a context lookup.
	Enabled bool
	// Protocol is "grpc" or "http/protobuf" (the default).
	Protocol string
	// ServiceName is the service.name of the spans unless OTEL_SERVICE_NAME says otherwise.
	ServiceName string
	// Log receives the SDK's errors (an unreachable collector), at warn; nil discards them.
	Log *slog.Logger
	// Getenv tells whether the batch span processor's variables are set; nil is os.Getenv.
	Getenv func(string) string
}

// The batch span processor's export batch and delay when OTEL_BSP_MAX_EXPORT_BATCH_SIZE and
// OTEL_BSP_SCHEDULE_DELAY are not set. The SDK's 512 spans per export make one long marshal
// every half second at 1,000 requests/s, which the requests queued behind it on a 2-core machine
// see as a p99 several times higher; small batches spread that work (docs/observability.md).
const (
	defaultExportBatch = 64
	defaultExportDelay = 200 * time.Millisecond
)

// StartTracing sets the W3C propagators and, when enabled, a tracer provider that batches spans to
// the OTLP endpoint. The exporter, the sampler (OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG) and
// the resource (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES) read the SDK's own variables. The
// returned stop flushes what is batched; it is a no-op when tracing is off.
func StartTracing(ctx context.Context, opts TracingOptions) (stop func(context.Context) error, err error) {
	otel.SetTextMapPropagator(Propagator)
	if !opts.Enabled {
		return func(context.Context) error { return nil }, nil
	}
	var exp sdktrace.SpanExporter
	if opts.Protocol == "grpc" {
		exp, err = otlptracegrpc.New(ctx)
	} else {
		exp, err = otlptracehttp.New(ctx)
	}
	if err != nil {
		return nil, err
	}
	// The service name first, the environment after: OTEL_SERVICE_NAME wins when set.
	res, err := resource.New(ctx, resource.WithAttributes(attribute.String("service.name", opts.ServiceName)),
		resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, err
	}
	if opts.Log != nil {
		log := opts.Log
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Warn("tracing: spans not exported", "error", err.Error()) }))
	}
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	var batch []sdktrace.BatchSpanProcessorOption
	if getenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE") == "" {
		batch = append(batch, sdktrace.WithMaxExportBatchSize(defaultExportBatch))
	}
	if getenv("OTEL_BSP_SCHEDULE_DELAY") == "" {
		batch = append(batch, sdktrace.WithBatchTimeout(defaultExportDelay))
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp, batch...), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	return tp.Shutdown, nil
}

// Tracer is the tracer of the functions' own spans, from the global provider at each call so a
// provider set after start-up is the one used.
func Tracer() trace.Tracer {
	return otel.Tracer("github.com/rayexecutor/functions")
}

// ServerSpans wraps h so that every request has a server span continuing the caller's
// traceparent, but those tracedElsewhere says get theirs further in (the RPCs). With tracing off
// it only extracts the caller's trace context, so logs and replies still carry it, without
// creating a span.
func ServerSpans(h http.Handler, enabled bool, tracedElsewhere func(*http.Request) bool) http.Handler {
	if enabled {
		traced := otelhttp.NewHandler(h, "request", otelhttp.WithPropagators(Propagator),
			otelhttp.WithMeterProvider(noopMeters),
			otelhttp.WithFilter(func(r *http.Request) bool { return tracedElsewhere == nil || !tracedElsewhere(r) }))
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// otelhttp renames the span after an outer mux's pattern (func-go's "/") once the
			// handler returns, which would undo NameServerSpan's route name.
			if r.Pattern != "" {
				r = r.WithContext(r.Context())
				r.Pattern = ""
			}
			traced.ServeHTTP(w, r)
		})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("traceparent") != "" {
			r = r.WithContext(Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header)))
		}
		h.ServeHTTP(w, r)
	})
}

// ClientTransport wraps an outbound transport (the Ray APIs) with a client span per call that
// sends traceparent on; rt nil is http.DefaultTransport.
func ClientTransport(rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	return otelhttp.NewTransport(rt, otelhttp.WithPropagators(Propagator), otelhttp.WithMeterProvider(noopMeters))
}
