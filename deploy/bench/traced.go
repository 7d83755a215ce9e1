package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// otlpSink is a local OTLP/HTTP trace endpoint for the tracing-on execute target: it reads and
// counts what the function exports and answers success, so the figure is the function's cost of
// making and exporting its spans, not a collector's.
type otlpSink struct {
	srv            *http.Server
	url            string
	exports, bytes atomic.Int64
}

// emptyExportResponse is an ExportTraceServiceResponse with no partial success: no bytes.
var emptyExportResponse = []byte{}

func startOTLPSink() (*otlpSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &otlpSink{url: "http://" + ln.Addr().String()}
	s.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		n, _ := io.Copy(&buf, r.Body)
		s.exports.Add(1)
		s.bytes.Add(n)
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(emptyExportResponse)
	})}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *otlpSink) close() { _ = s.srv.Close() }

// tracedEnv is the environment of the tracing-on target: every request sampled and exported.
func tracedEnv(url string) map[string]string {
	return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": url, "OTEL_TRACES_SAMPLER": "always_on"}
}

// tracedTolerance is how much slower execute's p99 may be with every request traced.
const tracedTolerance = 1.3
