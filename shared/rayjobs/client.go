package rayjobs

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sony/gobreaker/v2"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
)

// ClientConfig configures a Client. Zero durations and counts take the defaults.
type ClientConfig struct {
	// Address is the dashboard URL, e.g. http://127.0.0.1:8265 (RAY_ADDRESS).
	Address string
	// AuthToken, when set, is sent as `Authorization: Bearer <token>` (RAY_AUTH_TOKEN).
	AuthToken string
	// Timeout bounds one attempt of a short call (default 5 s).
	Timeout time.Duration
	// TransferTimeout bounds one attempt of a call that moves a body of megabytes: a package
	// upload or a job's logs (default 30 s).
	TransferTimeout time.Duration
	// MaxAttempts bounds the attempts of an idempotent call (default 3); a submit is tried once.
	MaxAttempts int
	// RetryBackoff is the first pause between attempts (default 100 ms); each next one doubles,
	// up to 2 s, with ±50 % jitter so that replicas retrying together spread out.
	RetryBackoff time.Duration
	// BreakerFailures is how many consecutive unavailable answers open the breaker (default 5).
	BreakerFailures int
	// BreakerOpenFor is how long the open breaker fails calls at once before it lets one probe
	// through (default 5 s).
	BreakerOpenFor time.Duration
	// MaxLogBytes bounds the logs kept of one job: the tail is kept (default 8 MiB).
	MaxLogBytes int
	// HTTPClient replaces the default HTTP client (its Timeout should stay 0: calls set their own).
	HTTPClient *http.Client
	// Tracing makes the spans of the calls and submits; nil is the global provider.
	Tracing trace.TracerProvider
}

const (
	defaultTimeout         = 5 * time.Second
	defaultTransferTimeout = 30 * time.Second
	defaultMaxAttempts     = 3
	defaultRetryBackoff    = 100 * time.Millisecond
	defaultBreakerFailures = 5
	defaultBreakerOpenFor  = 5 * time.Second
	defaultMaxLogBytes     = 8 << 20
	userAgent              = "rayexecutor-functions"
)

// Client calls the Ray Jobs REST API. It is safe for concurrent use; one Client per Ray cluster,
// so one breaker sees the health of that cluster.
type Client struct {
	base    *url.URL
	cfg     ClientConfig
	http    *http.Client
	breaker *gobreaker.CircuitBreaker[response]
}

// NewClient validates cfg and applies its defaults.
func NewClient(cfg ClientConfig) (*Client, error) {
	base, err := url.Parse(strings.TrimRight(cfg.Address, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" ||
		base.User != nil || base.RawQuery != "" || base.Fragment != "" {
		return nil, fmt.Errorf("ray address %q must be an http(s) URL without credentials, query or fragment", cfg.Address)
	}
	if strings.ContainsAny(cfg.AuthToken, "\r\n") {
		return nil, fmt.Errorf("ray auth token must be one line")
	}
	if cfg.Timeout < 0 || cfg.TransferTimeout < 0 || cfg.MaxAttempts < 0 || cfg.RetryBackoff < 0 ||
		cfg.BreakerFailures < 0 || cfg.BreakerOpenFor < 0 || cfg.MaxLogBytes < 0 {
		return nil, fmt.Errorf("ray client timeouts and limits cannot be negative")
	}
	cfg.Timeout = orDefault(cfg.Timeout, defaultTimeout)
	cfg.TransferTimeout = orDefault(cfg.TransferTimeout, defaultTransferTimeout)
	cfg.MaxAttempts = orDefault(cfg.MaxAttempts, defaultMaxAttempts)
	cfg.RetryBackoff = orDefault(cfg.RetryBackoff, defaultRetryBackoff)
	cfg.BreakerFailures = orDefault(cfg.BreakerFailures, defaultBreakerFailures)
	cfg.BreakerOpenFor = orDefault(cfg.BreakerOpenFor, defaultBreakerOpenFor)
	cfg.MaxLogBytes = orDefault(cfg.MaxLogBytes, defaultMaxLogBytes)
	hc := cfg.HTTPClient
	if hc == nil {
		transport := http.DefaultTransport.(*http.Transport).Clone()
		// Every replica talks to one dashboard: keep enough idle connections for bursts of submits.
		transport.MaxIdleConnsPerHost = 64
		hc = &http.Client{Transport: transport}
	}
	if cfg.Tracing == nil {
		cfg.Tracing = otel.GetTracerProvider()
	}
	traced := *hc
	traced.Transport = tracedTransport(hc.Transport, cfg.Tracing)
	hc = &traced
	c := &Client{base: base, cfg: cfg, http: hc}
	failures := uint32(cfg.BreakerFailures)
	c.breaker = gobreaker.NewCircuitBreaker[response](gobreaker.Settings{
		Name:        "ray " + base.Host,
		Timeout:     cfg.BreakerOpenFor,
		ReadyToTrip: func(counts gobreaker.Counts) bool { return counts.ConsecutiveFailures >= failures },
		// Only Ray's own unavailability counts against it: a 404 or a duplicate is a healthy answer.
		IsSuccessful: func(err error) bool { return err == nil || !errors.Is(err, ErrUnavailable) },
		IsExcluded:   callerGone,
	})
	return c, nil
}

// BreakerState is the breaker's state, "closed", "half-open" or "open", for metrics.
func (c *Client) BreakerState() string { return c.breaker.State().String() }

func orDefault[T time.Duration | int](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}
