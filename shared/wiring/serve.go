package wiring

import (
	"context"
	"net/http"

	fn "knative.dev/func-go/http"

	"github.com/rayexecutor/functions/shared/transport"
)

// Start runs function f with the production adapters under func-go, as fn.Start does, but on a
// server that speaks HTTP/1.1 and h2c on its one port. Every main of functions/ and the local
// combined main call it. func's scaffolding of the root package calls fn.Start itself and so
// serves HTTP/1.1 only (docs/deploy.md, "HTTP/2 and gRPC").
func Start(f transport.Function) error {
	return service(New(f)).Start(context.Background())
}

// service is func-go's service for i with HTTP/2 over cleartext (prior knowledge) beside HTTP/1.1:
// native gRPC needs HTTP/2 without TLS, which Knative's queue-proxy speaks to a port named h2c,
// while the kubelet's and queue-proxy's probes, curl and CloudEvents senders speak HTTP/1.1. It is
// set on the http.Server, not with x/net's h2c wrapper around the function's handler: func-go's
// ServeMux sits in front of that handler and answers the "PRI *" preface with 400.
func service(i *Instance) *fn.Service {
	svc := fn.New(i)
	svc.Protocols = protocols()
	return svc
}

func protocols() *http.Protocols {
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	return p
}
