package rayjobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/sony/gobreaker/v2"
)

// request is one call of the API.
type request struct {
	op          string
	method      string
	path        string // escaped, from the API root
	body        []byte
	contentType string
	// idempotent calls are retried; a submit is not: a retried POST after a lost answer would
	// only meet its own job (refused as a duplicate), so the port checks with a GET instead.
	idempotent bool
	// transfer calls move large bodies and get the longer timeout.
	transfer bool
	// maxBody bounds a 2xx body; with tail, the last maxBody bytes are kept instead of failing.
	maxBody int
	tail    bool
}

// response is a 2xx answer.
type response struct {
	body      []byte
	truncated bool
}

// maxErrorBody bounds what is read of an error body: enough for a nested Python traceback.
const maxErrorBody = 64 << 10

// do runs req through the breaker, with retries and backoff when it is idempotent. Every error it
// returns is an *Error.
func (c *Client) do(ctx context.Context, req request) (response, error) {
	tries := uint(1)
	if req.idempotent {
		tries = uint(c.cfg.MaxAttempts)
	}
	operation := func() (response, error) {
		res, err := c.breaker.Execute(func() (response, error) { return c.attempt(ctx, req) })
		switch {
		case errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests):
			return res, backoff.Permanent(&Error{Op: req.op, kind: ErrUnavailable, cause: err,
				Detail: "circuit breaker open after repeated failures; failing fast"})
		case err != nil && !(req.idempotent && retryable(err)):
			return res, backoff.Permanent(err)
		}
		return res, err
	}
	res, err := backoff.Retry(ctx, operation, backoff.WithBackOff(c.newBackOff()), backoff.WithMaxTries(tries))
	if err == nil {
		return res, nil
	}
	var e *Error
	if !errors.As(err, &e) {
		// The caller's context ended between attempts.
		e = &Error{Op: req.op, kind: ErrUnavailable, cause: err, Detail: err.Error(), callerGone: true}
	}
	return response{}, e
}

// newBackOff is exponential with jitter, so replicas retrying together spread out.
func (c *Client) newBackOff() backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = c.cfg.RetryBackoff
	b.RandomizationFactor = 0.5
	b.Multiplier = 2
	b.MaxInterval = 2 * time.Second
	return b
}

// attempt makes one HTTP exchange under its own timeout.
func (c *Client) attempt(ctx context.Context, req request) (response, error) {
	timeout := c.cfg.Timeout
	if req.transfer {
		timeout = c.cfg.TransferTimeout
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	hr, err := http.NewRequestWithContext(actx, req.method, c.base.String()+req.path, body)
	if err != nil {
		return response{}, &Error{Op: req.op, kind: ErrInvalidArgument, cause: err, Detail: "cannot build the request"}
	}
	hr.Header.Set("User-Agent", userAgent)
	if req.contentType != "" {
		hr.Header.Set("Content-Type", req.contentType)
	}
	if c.cfg.AuthToken != "" {
		hr.Header.Set("Authorization", "Bearer "+c.cfg.AuthToken)
	}
	hres, err := c.http.Do(hr)
	if err != nil {
		return response{}, noAnswerError(ctx, req.op, timeout, err)
	}
	defer hres.Body.Close()
	if hres.StatusCode < 200 || hres.StatusCode > 299 {
		text, err := io.ReadAll(io.LimitReader(hres.Body, maxErrorBody))
		if err != nil {
			return response{}, noAnswerError(ctx, req.op, timeout, err)
		}
		return response{}, classify(req.op, hres.StatusCode, string(text))
	}
	var res response
	if req.tail {
		res.body, res.truncated, err = readTail(hres.Body, req.maxBody)
	} else {
		res.body, err = io.ReadAll(io.LimitReader(hres.Body, int64(req.maxBody)+1))
	}
	if err != nil {
		return response{}, noAnswerError(ctx, req.op, timeout, err)
	}
	if len(res.body) > req.maxBody {
		return response{}, &Error{Op: req.op, Status: hres.StatusCode, kind: ErrProtocol,
			Detail: fmt.Sprintf("answer larger than %d bytes", req.maxBody)}
	}
	return res, nil
}

// noAnswerError is a call that got no complete answer. When the caller's own context ended, the
// failure says nothing about Ray and is marked so the breaker ignores it.
func noAnswerError(ctx context.Context, op string, timeout time.Duration, err error) *Error {
	e := &Error{Op: op, kind: ErrUnavailable, cause: err, callerGone: ctx.Err() != nil}
	var ue *url.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) && !e.callerGone:
		e.Detail = fmt.Sprintf("no answer within %s", timeout)
	case errors.As(err, &ue):
		e.Detail = truncate(ue.Err.Error(), maxDetail)
	default:
		e.Detail = truncate(err.Error(), maxDetail)
	}
	return e
}

// readTail reads r to its end and keeps at most the last n bytes, saying whether it dropped any.
func readTail(r io.Reader, n int) ([]byte, bool, error) {
	buf, err := io.ReadAll(io.LimitReader(r, int64(n)+1))
	if err != nil || len(buf) <= n {
		return buf, false, err
	}
	chunk := make([]byte, 64<<10)
	for {
		k, err := r.Read(chunk)
		buf = append(buf, chunk[:k]...)
		if len(buf) > 2*n {
			buf = append(buf[:0], buf[len(buf)-n:]...)
		}
		if errors.Is(err, io.EOF) {
			return buf[len(buf)-n:], true, nil
		}
		if err != nil {
			return nil, false, err
		}
	}
}

func retryable(err error) bool { return errors.Is(err, ErrUnavailable) && !callerGone(err) }

func callerGone(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.callerGone
}
