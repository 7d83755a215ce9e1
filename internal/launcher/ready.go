package launcher

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// ReadinessPath is func-go's readiness probe, which answers 200 once the function is ready.
const ReadinessPath = "/health/readiness"

// ErrExited is returned by WaitReady for a process that exited before it was ready.
var ErrExited = errors.New("exited before it was ready")

// errWithin is why WaitReady's own deadline ends its context, told apart from the caller's.
var errWithin = errors.New("readiness deadline")

// WaitReady polls url every poll until it answers 200. It fails as soon as the process exits, when
// ctx ends, or after within; the process is left running either way, for the caller to stop.
func (p *Process) WaitReady(ctx context.Context, url string, within, poll time.Duration) error {
	ctx, cancel := context.WithTimeoutCause(ctx, within, errWithin)
	defer cancel()
	// A client of its own, closed at the end, so no probe connection lingers in the process.
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	timer := time.NewTimer(poll)
	defer timer.Stop()
	var last error
	for {
		err := probe(ctx, client, url)
		if err == nil {
			return nil
		}
		if ctx.Err() == nil {
			last = err // not the one the deadline cut, which says nothing of the process
		}
		timer.Reset(poll)
		select {
		case <-p.done:
			return fmt.Errorf("%s %w: %s", p.name, ErrExited, p.state())
		case <-ctx.Done():
			if context.Cause(ctx) == errWithin {
				return fmt.Errorf("%s: no 200 from %s within %s (last: %v)", p.name, url, within, last)
			}
			return fmt.Errorf("%s not ready: %w", p.name, context.Cause(ctx))
		case <-timer.C:
		}
	}
}

// probe is one GET of url: nil for a 200.
func probe(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("answered %s", res.Status)
	}
	return nil
}
