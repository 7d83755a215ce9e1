package rpc

import (
	"errors"
	"net/http"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/transport"
)

// rpcCodes is the one table from application error codes to RPC status codes; transport's
// codeProblems is its HTTP twin. A reused idempotency key is ALREADY_EXISTS: the key names a
// deliberation that exists.
var rpcCodes = map[deliberation.Code]connect.Code{
	deliberation.CodeInvalid:      connect.CodeInvalidArgument,
	deliberation.CodeUnauthorized: connect.CodeUnauthenticated,
	deliberation.CodeNotFound:     connect.CodeNotFound,
	deliberation.CodeConflict:     connect.CodeAlreadyExists,
	deliberation.CodeTooMany:      connect.CodeResourceExhausted,
	deliberation.CodeUnavailable:  connect.CodeUnavailable,
	deliberation.CodeInternal:     connect.CodeInternal,
}

// rpcError answers an error of the use cases as an RPC status with details a generated client can
// read: every field problem (google.rpc.BadRequest) and, for what a retry can fix, how long to
// wait (google.rpc.RetryInfo, the Retry-After of the HTTP answer).
func rpcError(err error) *connect.Error {
	p := transport.ProblemOf(err)
	code, ok := rpcCodes[deliberation.ErrorCode(err)]
	if !ok || p.Status == http.StatusInternalServerError {
		code = connect.CodeInternal
	}
	ce := connect.NewError(code, errors.New(p.Detail))
	if len(p.Errors) > 0 {
		br := &errdetails.BadRequest{}
		for _, f := range p.Errors {
			v := rpcViolation(f)
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: v.Field, Description: v.Message})
		}
		addDetail(ce, br)
	}
	if p.RetryAfter > 0 {
		addDetail(ce, &errdetails.RetryInfo{RetryDelay: durationpb.New(p.RetryAfter)})
	}
	return ce
}

func addDetail(ce *connect.Error, msg proto.Message) {
	if d, err := connect.NewErrorDetail(msg); err == nil {
		ce.AddDetail(d)
	}
}

// HTTPStatus is the HTTP status an RPC outcome is counted under in the request metrics and the
// log line, so one dashboard reads every transport (gRPC itself always answers 200).
func HTTPStatus(code connect.Code) int {
	if code == 0 {
		return http.StatusOK
	}
	for app, c := range rpcCodes {
		if c == code {
			status, _ := transport.HTTPStatus(app)
			return status
		}
	}
	switch code {
	case connect.CodeUnimplemented:
		return http.StatusNotImplemented
	case connect.CodeCanceled:
		return 499 // the caller went away, as proxies count it
	case connect.CodeDeadlineExceeded:
		return http.StatusGatewayTimeout
	}
	return http.StatusBadRequest
}
