package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rayexecutor/functions/shared/transport"
	"github.com/rayexecutor/functions/shared/transport/httpapi"
)

// gzipped is n bytes of b compressed: a body a thousand times smaller than what it inflates to.
func gzipped(t *testing.T, b byte, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if _, err := zw.Write(bytes.Repeat([]byte{b}, n)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// countingBody counts the bytes a handler pulls from the request body.
type countingBody struct {
	r    io.Reader
	read atomic.Int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// TestGzipBodyCappedWhileInflating: MAX_BODY_BYTES bounds the inflated size of a gzip JSON body,
// and the handler stops reading once past it rather than inflating the whole body first.
func TestGzipBodyCappedWhileInflating(t *testing.T) {
	t.Parallel()
	h := newHarness(t, transport.FunctionCombined)
	handler, err := httpapi.NewHandler(backendOf(h.svc), httpapi.Options{Function: transport.FunctionCombined, MaxBodyBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	bomb := gzipped(t, ' ', 48<<20) // ~47 KiB on the wire, under the limit; 48 MiB inflated
	body := &countingBody{r: bytes.NewReader(bomb)}
	req := httptest.NewRequest(http.MethodPost, "/deliberations", body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("a gzip body inflating past the limit: status %d, want 413: %s", rec.Code, rec.Body)
	}
	// 64 KiB of spaces deflate to well under 1 KiB; the rest of the body is never read.
	if n := body.read.Load(); n > 8<<10 {
		t.Errorf("the handler read %d of %d compressed bytes: it inflated past the limit", n, len(bomb))
	}
	// A gzip body within the limit is read as the JSON it holds.
	var small bytes.Buffer
	zw := gzip.NewWriter(&small)
	_, _ = zw.Write([]byte(validRequest))
	_ = zw.Close()
	ok := h.call(http.MethodPost, "/deliberations", small.String(), "Content-Encoding", "gzip")
	if ok.status != http.StatusAccepted && ok.status != http.StatusOK && ok.status != http.StatusCreated {
		t.Errorf("a small gzip body: status %d: %s", ok.status, ok.body)
	}
	h.call(http.MethodPost, "/deliberations", validRequest, "Content-Encoding", "br").problem(t, http.StatusUnsupportedMediaType)
}

// TestRPCGzipMessageCappedWhileInflating: a Connect call whose gzip body inflates past
// MAX_BODY_BYTES is refused with RESOURCE_EXHAUSTED as soon as the limit is passed. connect-go on
// its own inflates the rest to report the message's full size, which is what the test catches:
// the answer may not know the inflated size.
func TestRPCGzipMessageCappedWhileInflating(t *testing.T) {
	t.Parallel()
	h := newHarness(t, transport.FunctionExecute)
	const inflated = 48 << 20
	bomb := gzipped(t, ' ', inflated)
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/fleet.ray_executor.v1.RayExecutorService/ExecuteDeliberation", bytes.NewReader(bomb))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	res, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var answer struct{ Code, Message string }
	if err := json.NewDecoder(res.Body).Decode(&answer); err != nil {
		t.Fatal(err)
	}
	if answer.Code != "resource_exhausted" {
		t.Fatalf("code %q (%s), want resource_exhausted", answer.Code, answer.Message)
	}
	if strings.Contains(answer.Message, strconv.Itoa(inflated)) {
		t.Errorf("the server inflated the whole message to measure it: %s", answer.Message)
	}
	if n := len(h.ray.Calls("Submit")); n != 0 {
		t.Errorf("Ray got %d submissions", n)
	}
}
