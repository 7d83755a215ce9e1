package httpapi

import (
	"compress/gzip"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/rayexecutor/functions/shared/transport"
)

// maxHeaderBytes bounds the request headers the handler accepts. func-go's server allows 1 MiB,
// far more than any caller of these functions needs.
const maxHeaderBytes = 64 << 10

// headerBytes is the size of the request headers as they would travel.
func headerBytes(r *http.Request) int {
	n := len(r.Method) + len(r.RequestURI) + len(r.Host)
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// readBody reads the whole body up to the limit; a larger body is answered 413 and returns false.
// A gzip body is inflated as it is read and the limit bounds both its wire and inflated sizes, so
// a small body that inflates a thousandfold costs no more than one at the limit.
func (h *handlers) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	in := http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes)
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(in)
		if err != nil {
			h.fail(w, r, transport.Invalid("body", "gzip request body could not be read"))
			return nil, false
		}
		in = http.MaxBytesReader(w, zr, h.opts.MaxBodyBytes)
	default:
		w.Header().Set("Accept-Encoding", "gzip")
		transport.ProtocolProblem(http.StatusUnsupportedMediaType, "unsupported-media-type", "request body must be sent as is or gzip").Write(w)
		return nil, false
	}
	body, err := io.ReadAll(in)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		transport.ProtocolProblem(http.StatusRequestEntityTooLarge, "too-large", "request body is larger than the limit of this function").Write(w)
		return nil, false
	case err != nil:
		h.fail(w, r, transport.Invalid("body", "request body could not be read"))
		return nil, false
	}
	return body, true
}

// isJSON accepts application/json and any +json media type.
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// requireJSON answers 415 unless the request declares a JSON body.
func requireJSON(w http.ResponseWriter, r *http.Request) bool {
	if isJSON(r.Header.Get("Content-Type")) {
		return true
	}
	transport.ProtocolProblem(http.StatusUnsupportedMediaType, "unsupported-media-type", "request body must be application/json").Write(w)
	return false
}
