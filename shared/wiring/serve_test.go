package wiring

import (
	"io"
	"net"
	"net/http"
	"testing"

	fn "knative.dev/func-go/http"

	"github.com/rayexecutor/functions/shared/transport"
)

// TestServiceSpeaksHTTP1AndH2C: the server the mains start answers HTTP/1.1 and, on the same
// listener, HTTP/2 with prior knowledge; func-go's own server (what func's scaffolding of the root
// package runs) refuses the latter, so the check can fail.
func TestServiceSpeaksHTTP1AndH2C(t *testing.T) {
	t.Parallel()
	inst := NewInstance(transport.FunctionStats, nil) // never started: liveness needs no backend
	ours, plain := serve(t, service(inst)), serve(t, fn.New(inst))

	for _, tc := range []struct {
		name      string
		addr      string
		protocols func(p *http.Protocols)
		want      string // the answer's Proto; "" for no answer
	}{
		{"HTTP/1.1", ours, func(p *http.Protocols) { p.SetHTTP1(true) }, "HTTP/1.1"},
		{"h2c", ours, func(p *http.Protocols) { p.SetUnencryptedHTTP2(true) }, "HTTP/2.0"},
		{"h2c to func-go's server", plain, func(p *http.Protocols) { p.SetUnencryptedHTTP2(true) }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := new(http.Protocols)
			tc.protocols(p) // only this protocol: the client cannot fall back to another
			c := &http.Client{Transport: &http.Transport{Protocols: p}}
			res, err := c.Get("http://" + tc.addr + "/health/liveness")
			if tc.want == "" {
				if err == nil {
					res.Body.Close()
					t.Fatalf("answered %d over %s", res.StatusCode, res.Proto)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != http.StatusOK || string(body) != "ALIVE" || res.Proto != tc.want {
				t.Errorf("%s %d %q, want %s 200 ALIVE", res.Proto, res.StatusCode, body, tc.want)
			}
		})
	}
}

// serve runs svc's http.Server on a free port of 127.0.0.1 until the test ends and returns its
// address; func-go's Start would also take the process's signals.
func serve(t *testing.T, svc *fn.Service) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = svc.Serve(ln) }()
	t.Cleanup(func() { _ = svc.Close() })
	return ln.Addr().String()
}
