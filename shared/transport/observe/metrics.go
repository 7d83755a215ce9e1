package observe

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics counts requests by route, transport and status code and times them by route. It lives
// in a registry of its own per handler set, so tests can run many handlers in one process.
type Metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	gatherer prometheus.Gatherer
}

// NewMetrics registers the request metrics in reg.
func NewMetrics(reg *prometheus.Registry) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "rayexec", Name: "http_requests_total",
			Help: "Requests answered, by route (use case), transport (http or cloudevents) and status code.",
		}, []string{"route", "transport", "code"}),
		// Buckets from 1 ms: the performance targets are a few milliseconds at p99.
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "rayexec", Name: "http_request_duration_seconds",
			Help:    "Time to answer a request, by route (use case).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route"}),
		gatherer: reg,
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Observe counts one answered request.
func (m *Metrics) Observe(route, transport string, code int, took time.Duration) {
	m.requests.WithLabelValues(route, transport, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(route).Observe(took.Seconds())
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.gatherer, promhttp.HandlerOpts{})
}
