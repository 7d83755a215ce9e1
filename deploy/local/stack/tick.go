package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/client"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/google/uuid"
	"github.com/rayexecutor/functions/shared/transport"
)

// tickTimeout bounds one ping: the reconcile pass keeps under func-go's 30 s request limit.
const tickTimeout = 35 * time.Second

// reconcileTick stands in for the PingSource of a deployment: it sends the status function the ping
// that runs a reconcile pass (docs/ray.md), in binary mode as a PingSource does, with the bearer
// token when API_TOKEN is set.
type reconcileTick struct {
	client   client.Client
	interval time.Duration
	log      *slog.Logger
}

func newReconcileTick(statusURL, token string, interval time.Duration, log *slog.Logger) (reconcileTick, error) {
	opts := []cehttp.Option{cehttp.WithTarget(statusURL)}
	if token != "" {
		opts = append(opts, cehttp.WithHeader("Authorization", "Bearer "+token))
	}
	c, err := cloudevents.NewClientHTTP(opts...)
	if err != nil {
		return reconcileTick{}, err
	}
	return reconcileTick{client: c, interval: interval, log: log}, nil
}

// run pings every interval until ctx ends. Pings never overlap: a slow pass delays the next.
// A failed ping is logged and not retried: the next tick is the retry, as with a PingSource.
func (t reconcileTick) run(ctx context.Context) {
	ticker := time.NewTicker(t.interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		e := cloudevents.NewEvent()
		e.SetID(uuid.NewString())
		e.SetSource("/local/stack")
		e.SetType(transport.TypePing)
		e.SetTime(time.Now().UTC())
		sendCtx, cancel := context.WithTimeout(cloudevents.WithEncodingBinary(ctx), tickTimeout)
		res := t.client.Send(sendCtx, e)
		cancel()
		if ctx.Err() != nil {
			return
		}
		status := 0
		var httpRes *cehttp.Result
		if errors.As(res, &httpRes) {
			status = httpRes.StatusCode
		}
		if cloudevents.IsACK(res) {
			t.log.Debug("reconcile tick", "status", status)
		} else {
			t.log.Warn("reconcile tick failed", "status", status, "error", res.Error())
		}
	}
}
