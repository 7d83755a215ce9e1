package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// Status polls of the functions' ways: every 5 ms for one deliberation, as an eager caller polls;
// every 25 ms for each of a burst, since 20 callers at 5 ms would send 4,000 requests/s to the
// status function and take from Ray the cores it is measured on.
const (
	onePoll   = 5 * time.Millisecond
	burstPoll = 25 * time.Millisecond
)

// functions are the execute and status functions in one dispatch mode, driven as a caller drives
// them: POST to execute, then GET the status route until the deliberation is completed.
type functions struct {
	client          *http.Client
	execute, status *process
	body            []byte
}

// startFunctions starts the status function, then execute; both send the finished wake-up to the
// status function, as under make run.
func startFunctions(ctx context.Context, bin func(string) string, env map[string]string, body []byte) (*functions, error) {
	// The status function's address: the one the runner was told (statusCallback), or a new one.
	addr, known := strings.CutPrefix(env["RAY_EXECUTOR_CALLBACK_URL"], "http://")
	if !known {
		var err error
		if addr, err = loopbackAddr(); err != nil {
			return nil, err
		}
	}
	env["RAY_EXECUTOR_CALLBACK_URL"] = "http://" + addr
	status, err := launchAt(ctx, bin("get-deliberation-status"), addr, env)
	if err != nil {
		return nil, err
	}
	execute, err := launch(ctx, bin("execute-deliberation"), env)
	if err != nil {
		status.stop()
		return nil, err
	}
	return &functions{client: newClient(), execute: execute, status: status, body: body}, nil
}

func (f *functions) one(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	err := f.deliberate(ctx, onePoll)
	return time.Since(start), err
}

func (f *functions) burst(ctx context.Context, n int) (time.Duration, error) {
	start := time.Now()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = f.deliberate(ctx, burstPoll) })
	}
	wg.Wait()
	return time.Since(start), errors.Join(errs...)
}

func (f *functions) pids() []int { return []int{f.execute.pid(), f.status.pid()} }

func (f *functions) close() {
	f.execute.stop()
	f.status.stop()
}

// deliberate submits one deliberation and polls its status every poll until it is completed.
func (f *functions) deliberate(ctx context.Context, poll time.Duration) error {
	var sub struct {
		ID string `json:"deliberation_id"`
	}
	if err := f.call(ctx, http.MethodPost, f.execute.url+"/", f.body, http.StatusAccepted, &sub); err != nil {
		return err
	}
	for {
		var st struct {
			Status deliberation.Status `json:"status"`
			Error  string              `json:"error_message"`
		}
		if err := f.call(ctx, http.MethodGet, f.status.url+"/"+sub.ID, nil, http.StatusOK, &st); err != nil {
			return err
		}
		switch st.Status {
		case deliberation.StatusCompleted:
			return nil
		case deliberation.StatusFailed:
			return fmt.Errorf("deliberation %s failed: %s", sub.ID, st.Error)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("deliberation %s still %s: %w", sub.ID, st.Status, ctx.Err())
		case <-time.After(poll):
		}
	}
}

// call makes one request and decodes its JSON answer into out.
func (f *functions) call(ctx context.Context, method, url string, body []byte, want int, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := f.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != want {
		return fmt.Errorf("%s %s answered %d, want %d: %s", method, url, res.StatusCode, want, raw)
	}
	return json.Unmarshal(raw, out)
}

// statusCallback picks the status function's address before the runner is deployed, so the
// runner's own limits name the wake-up it may send (callback_url) and the fake model server it
// may call; startFunctions then starts the status function there.
func statusCallback(env map[string]string, modelURL string) (map[string]any, error) {
	addr, err := loopbackAddr()
	if err != nil {
		return nil, err
	}
	env["RAY_EXECUTOR_CALLBACK_URL"] = "http://" + addr
	return map[string]any{"allowed_origins": []string{modelURL}, "callback_url": "http://" + addr}, nil
}
