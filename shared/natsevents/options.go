package natsevents

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// Options configure the publisher; zero values take the defaults.
type Options struct {
	// URL is the NATS server, or a comma-separated list of servers (NATS_URL). Required.
	URL string
	// SubjectPrefix starts every subject, `<prefix>.deliberation.<event>` (default "ray-executor").
	SubjectPrefix string
	// Stream is the JetStream stream, created when missing and never changed (default
	// "RAY_EXECUTOR").
	Stream string
	// Source is the CloudEvents source of every event (default "/ray-executor").
	Source string
	// DuplicateWindow of the stream when this publisher creates it: at least 30 minutes, the time
	// within which a second publish of an event is dropped (default 2h).
	DuplicateWindow time.Duration
	// MaxAge of the stream's messages when this publisher creates it (default 168h, the retention
	// of finished deliberations).
	MaxAge time.Duration
	// PublishTimeout bounds one publish and its acknowledgement (default 2s).
	PublishTimeout time.Duration
	// DrainTimeout bounds one background drain of a deliberation's events (default 10s).
	DrainTimeout time.Duration
	// MaxDrains bounds the drains running at once (default 16).
	MaxDrains int
	// MaxQueued bounds the deliberations waiting for a background drain; beyond it, their events
	// wait in the outbox for the next DeliverPending (default 10,000).
	MaxQueued int
	// ConnectTimeout bounds one connection attempt (default 2s); attempts go on forever,
	// ReconnectWait apart (default 1s).
	ConnectTimeout time.Duration
	ReconnectWait  time.Duration
	// Tracing makes the publish spans; nil is the global provider (otel.GetTracerProvider).
	Tracing trace.TracerProvider
}

// MinDuplicateWindow is the least duplicate window the spec allows.
const MinDuplicateWindow = 30 * time.Minute

func (o Options) withDefaults() (Options, error) {
	set := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if o.SubjectPrefix == "" {
		o.SubjectPrefix = "ray-executor"
	}
	if o.Stream == "" {
		o.Stream = "RAY_EXECUTOR"
	}
	if o.Source == "" {
		o.Source = "/ray-executor"
	}
	set(&o.DuplicateWindow, 2*time.Hour)
	set(&o.MaxAge, 168*time.Hour)
	set(&o.PublishTimeout, 2*time.Second)
	set(&o.DrainTimeout, 10*time.Second)
	set(&o.ConnectTimeout, 2*time.Second)
	set(&o.ReconnectWait, time.Second)
	if o.MaxDrains <= 0 {
		o.MaxDrains = 16
	}
	if o.MaxQueued <= 0 {
		o.MaxQueued = 10_000
	}
	var problems []error
	if strings.TrimSpace(o.URL) == "" {
		problems = append(problems, errors.New("URL is required"))
	}
	for _, tok := range strings.Split(o.SubjectPrefix, ".") {
		if tok == "" || strings.ContainsAny(tok, "*> \t\r\n") {
			problems = append(problems, fmt.Errorf("subject prefix %q must be literal subject tokens", o.SubjectPrefix))
			break
		}
	}
	if strings.ContainsAny(o.Stream, ".*> \t\r\n/\\") {
		problems = append(problems, fmt.Errorf("stream name %q is not a valid JetStream name", o.Stream))
	}
	if o.DuplicateWindow < MinDuplicateWindow {
		problems = append(problems, fmt.Errorf("duplicate window %s is shorter than %s", o.DuplicateWindow, MinDuplicateWindow))
	}
	if o.MaxAge < o.DuplicateWindow {
		problems = append(problems, fmt.Errorf("max age %s is shorter than the duplicate window %s", o.MaxAge, o.DuplicateWindow))
	}
	if err := errors.Join(problems...); err != nil {
		return o, fmt.Errorf("natsevents: %w", err)
	}
	return o, nil
}

func (o Options) subject(event string) string { return o.SubjectPrefix + ".deliberation." + event }
