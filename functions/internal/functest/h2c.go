package functest

import "net/http"

// H2C speaks HTTP/2 over cleartext with prior knowledge and nothing else: with HTTP/1 off it
// cannot fall back, so any answer it gets came over h2c, as Knative's queue-proxy sends to a
// port named h2c (and native gRPC needs).
var H2C = &http.Client{Transport: &http.Transport{Protocols: h2cOnly()}}

func h2cOnly() *http.Protocols {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	return p
}
