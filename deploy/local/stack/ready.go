package main

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// readyTimeout bounds how long the functions may take to answer their readiness probe; they are
// ready within milliseconds of starting (SPEC 13), so this only catches a broken start.
const readyTimeout = 30 * time.Second

// waitReady polls url's /health/readiness until it answers 200, the child exits or ctx ends.
func waitReady(ctx context.Context, c *child, url string) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/health/readiness", nil)
		if err != nil {
			return err
		}
		res, err := client.Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-c.done:
			return fmt.Errorf("%s exited before it was ready: %v", c.name, c.err)
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w", c.name, context.Cause(ctx))
		case <-tick.C:
		}
	}
}
