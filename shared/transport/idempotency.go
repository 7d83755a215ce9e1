package transport

import (
	"net/http"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// IdempotencyKey reads the optional Idempotency-Key header (the idempotency-key metadata of an
// RPC). Sent empty or twice it is an error rather than absent: the caller meant to deduplicate
// and would otherwise get a second deliberation.
func IdempotencyKey(h http.Header) (string, error) {
	values, present := h["Idempotency-Key"]
	switch {
	case !present:
		return "", nil
	case len(values) != 1 || values[0] == "":
		// Sent twice or empty, it gets the answer of any invalid key (which says "sent once").
		return "", deliberation.CheckIdempotencyKey("")
	}
	return values[0], nil
}
