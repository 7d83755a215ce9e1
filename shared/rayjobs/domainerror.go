package rayjobs

import (
	"errors"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// domainError turns a client error into the application error the port promises. what names the
// call (ids in it are validated ones); Ray's own words stay in the cause, for logs only.
func domainError(err error, what string) error {
	if err == nil {
		return nil
	}
	code, reason := deliberation.CodeInternal, "Ray gave an unexpected answer"
	switch {
	case errors.Is(err, ErrNotFound):
		code, reason = deliberation.CodeNotFound, "Ray has no such job"
	case errors.Is(err, ErrAlreadyExists):
		code, reason = deliberation.CodeConflict, "Ray already has a job with this submission id"
	case errors.Is(err, ErrNotTerminal):
		code, reason = deliberation.CodeConflict, "the job is still pending or running"
	case errors.Is(err, ErrUnavailable):
		code, reason = deliberation.CodeUnavailable, "Ray is unavailable"
	case errors.Is(err, ErrUnauthorized):
		// Our credentials are wrong, not the caller's: callers see Ray as unavailable until an
		// operator fixes RAY_AUTH_TOKEN, and the accepted work waits for it.
		code, reason = deliberation.CodeUnavailable, "Ray refused the credentials (check RAY_AUTH_TOKEN)"
	case errors.Is(err, ErrInvalidArgument):
		code, reason = deliberation.CodeInvalid, "the id cannot be sent to Ray"
	case errors.Is(err, ErrRejected):
		reason = "Ray rejected the request"
	}
	return &deliberation.Error{Code: code, Message: what + ": " + reason, Cause: err}
}
