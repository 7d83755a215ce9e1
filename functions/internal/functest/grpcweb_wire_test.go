package functest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net/http"
	"net/textproto"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	executorv1 "github.com/rayexecutor/functions/shared/proto/fleet/ray_executor/v1"
	"github.com/rayexecutor/functions/shared/proto/fleet/ray_executor/v1/executorv1connect"
)

// grpcWebAnswer is a gRPC-Web answer taken apart by hand: its messages and its status, from the
// trailer frame or, for a trailers-only answer, the headers.
type grpcWebAnswer struct {
	HTTPStatus  int
	Proto       string
	ContentType string
	Messages    [][]byte
	// Trailers are the trailer frame's; nil when there was none.
	Trailers http.Header
	Status   string
	Message  string
}

// grpcWebCall POSTs one length-prefixed message to procedure as gRPC-Web (binary, over HTTP/1.1)
// and parses the frames of the answer: 1 flag byte (0x80 marks the trailers), a 4-byte big-endian
// length, then the bytes.
func grpcWebCall(t *testing.T, url, procedure string, msg proto.Message) grpcWebAnswer {
	t.Helper()
	body, err := proto.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	frame := make([]byte, 5, 5+len(body))
	binary.BigEndian.PutUint32(frame[1:], uint32(len(body)))
	req, err := http.NewRequest(http.MethodPost, url+procedure, bytes.NewReader(append(frame, body...)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/grpc-web+proto")
	req.Header.Set("X-Grpc-Web", "1")
	req.Header.Set("X-User-Agent", "grpc-web-javascript/0.1")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := grpcWebAnswer{HTTPStatus: res.StatusCode, Proto: res.Proto, ContentType: res.Header.Get("Content-Type"),
		Status: res.Header.Get("Grpc-Status"), Message: res.Header.Get("Grpc-Message")}
	for len(raw) > 0 {
		if len(raw) < 5 {
			t.Fatalf("%d bytes left, not a frame header", len(raw))
		}
		flags, n := raw[0], binary.BigEndian.Uint32(raw[1:5])
		if uint32(len(raw)-5) < n {
			t.Fatalf("frame of %d bytes with %d left", n, len(raw)-5)
		}
		payload := raw[5 : 5+n]
		raw = raw[5+n:]
		if flags&0x80 == 0 {
			if a.Trailers != nil {
				t.Fatal("a message after the trailers")
			}
			a.Messages = append(a.Messages, payload)
			continue
		}
		// The trailers are an HTTP/1 header block: "name: value\r\n" lines.
		h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(append(payload, "\r\n"...)))).ReadMIMEHeader()
		if err != nil {
			t.Fatalf("trailer frame %q: %v", payload, err)
		}
		a.Trailers = http.Header(h)
		if len(raw) > 0 {
			t.Fatalf("%d bytes after the trailer frame", len(raw))
		}
	}
	if a.Trailers != nil {
		if a.Status != "" {
			t.Fatalf("grpc-status both in the headers (%s) and the trailer frame", a.Status)
		}
		a.Status, a.Message = a.Trailers.Get("Grpc-Status"), a.Trailers.Get("Grpc-Message")
	}
	return a
}

// TestGRPCWebWire proves the gRPC-Web wire on the combined binary without a client library: a
// hand-built frame in, a data frame and a trailer frame out, with grpc-status 0; an unknown id is
// grpc-status 5 (NOT_FOUND) with no message frame.
func TestGRPCWebWire(t *testing.T) {
	t.Parallel()
	stack := NewStack(t)
	id := stack.Seed(t, 1)[0]
	fn := rpcProcess(t, stack, combined, map[string]string{"LOG_LEVEL": "info"})

	t.Run("GetStatus", func(t *testing.T) {
		a := grpcWebCall(t, fn.URL, executorv1connect.RayExecutorServiceGetStatusProcedure, &executorv1.GetStatusRequest{IncludeStats: true})
		if a.HTTPStatus != http.StatusOK || a.Proto != "HTTP/1.1" || a.ContentType != "application/grpc-web+proto" {
			t.Fatalf("%s %d %s", a.Proto, a.HTTPStatus, a.ContentType)
		}
		if a.Trailers == nil || a.Status != "0" || len(a.Messages) != 1 {
			t.Fatalf("%d messages, trailers %v, status %q; want one message and a trailer frame with grpc-status 0", len(a.Messages), a.Trailers, a.Status)
		}
		res := &executorv1.GetStatusResponse{}
		if err := proto.Unmarshal(a.Messages[0], res); err != nil {
			t.Fatal(err)
		}
		if res.Status != "healthy" || res.Stats.GetTotalDeliberations() != 1 || res.Stats.GetActiveDeliberations() != 1 {
			t.Errorf("answer %v, want healthy with the one seeded deliberation", res)
		}
	})
	t.Run("GetDeliberationStatus", func(t *testing.T) {
		a := grpcWebCall(t, fn.URL, executorv1connect.RayExecutorServiceGetDeliberationStatusProcedure, &executorv1.GetDeliberationStatusRequest{DeliberationId: id})
		res := &executorv1.GetDeliberationStatusResponse{}
		if a.Status != "0" || len(a.Messages) != 1 {
			t.Fatalf("status %q (%s), %d messages", a.Status, a.Message, len(a.Messages))
		}
		if err := proto.Unmarshal(a.Messages[0], res); err != nil || (res.Status != "submitted" && res.Status != "running") {
			t.Errorf("answer %v, %v", res, err)
		}
	})
	t.Run("NOT_FOUND", func(t *testing.T) {
		a := grpcWebCall(t, fn.URL, executorv1connect.RayExecutorServiceGetDeliberationStatusProcedure, &executorv1.GetDeliberationStatusRequest{DeliberationId: unknownID})
		if a.HTTPStatus != http.StatusOK || a.Status != "5" || len(a.Messages) != 0 || !strings.Contains(a.Message, unknownID) {
			t.Errorf("HTTP %d, grpc-status %q, grpc-message %q, %d messages; want 200, 5 naming the id, none", a.HTTPStatus, a.Status, a.Message, len(a.Messages))
		}
	})
}
