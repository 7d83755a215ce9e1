package rpc

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"testing"

	"connectrpc.com/connect"
)

func gz(t *testing.T, n int) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, _ = w.Write(bytes.Repeat([]byte{'a'}, n))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestCappedGzipBoundary: a message of exactly the limit inflates whole; one byte more is
// RESOURCE_EXHAUSTED, and a huge one is not inflated past the limit.
func TestCappedGzipBoundary(t *testing.T) {
	t.Parallel()
	const limit = 1000
	read := func(src []byte) (int64, error) {
		c := &cappedGzip{limit: limit}
		if err := c.Reset(bytes.NewReader(src)); err != nil {
			t.Fatal(err)
		}
		return io.Copy(io.Discard, c)
	}
	if n, err := read(gz(t, limit)); err != nil || n != limit {
		t.Errorf("a message of exactly the limit: %d bytes, %v", n, err)
	}
	var ce *connect.Error
	if _, err := read(gz(t, limit+1)); !errors.As(err, &ce) || ce.Code() != connect.CodeResourceExhausted {
		t.Errorf("one byte over: %v, want resource_exhausted", err)
	}
	if n, err := read(gz(t, 64<<20)); err == nil || n > limit {
		t.Errorf("64 MiB inflated: %d bytes out, %v", n, err)
	}
}
