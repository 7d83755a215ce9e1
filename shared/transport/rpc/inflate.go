package rpc

import (
	"compress/gzip"
	"fmt"
	"io"

	"connectrpc.com/connect"
)

// cappedGzip inflates at most limit bytes of a message and fails the read of one more. connect-go
// stops at its read limit too, but then inflates the rest to report the message's size, so a
// 250 KiB body still cost 250 MiB of inflation; this decompressor never gets that far.
type cappedGzip struct {
	gz    gzip.Reader
	limit int64
	left  int64
}

// gzipCapped replaces connect-go's gzip with one whose inflated output stops at limit bytes.
func gzipCapped(limit int64) connect.HandlerOption {
	return connect.WithCompression("gzip",
		func() connect.Decompressor { return &cappedGzip{limit: limit} },
		func() connect.Compressor { return gzip.NewWriter(io.Discard) })
}

func (c *cappedGzip) Reset(r io.Reader) error {
	c.left = c.limit
	return c.gz.Reset(r)
}

func (c *cappedGzip) Close() error { return c.gz.Close() }

func (c *cappedGzip) Read(p []byte) (int, error) {
	if c.limit <= 0 {
		return c.gz.Read(p)
	}
	if c.left > 0 {
		if int64(len(p)) > c.left {
			p = p[:c.left]
		}
		n, err := c.gz.Read(p)
		c.left -= int64(n)
		return n, err
	}
	// At the limit: a message that ends here fits; one more byte means it does not.
	var one [1]byte
	if n, err := c.gz.Read(one[:]); n == 0 {
		return 0, err
	}
	return 0, connect.NewError(connect.CodeResourceExhausted,
		fmt.Errorf("message is larger than the limit of %d bytes once inflated", c.limit))
}
