package deliberation

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strings"
)

const (
	idPrefix        = "delib-"
	idRandomLen     = 26
	maxIdentifier   = 128
	maxIdempotency  = 255
	identifierChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-"
)

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns a random deliberation id: `delib-` and 26 lowercase base32 characters (128 bits).
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return idPrefix + idEncoding.EncodeToString(b[:])
}

// KeyedID derives the deliberation id of an idempotency key in a namespace (whose caller, which
// surface), so a replay computes the same id even when Redis lost its last writes: an HMAC-SHA256
// keyed by the server's secret, so nobody who lacks it can tell the id a key will have.
func KeyedID(secret []byte, namespace, key string) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(namespace))
	mac.Write([]byte{0})
	mac.Write([]byte(key))
	return idPrefix + idEncoding.EncodeToString(mac.Sum(nil)[:16])
}

// IDFromKey is the id the versions before KeyedID derived from a key, unkeyed and in one
// namespace; only tests and the bench use it now, to make ids of their own (of a chosen shard).
func IDFromKey(key string) string {
	sum := sha256.Sum256([]byte("rayexec-idempotency\x00" + key))
	return idPrefix + idEncoding.EncodeToString(sum[:16])
}

// ValidID reports whether s has the shape of a deliberation id; anything else is never looked up,
// so hostile ids never reach a Redis key, a Ray URL or a log line.
func ValidID(s string) bool {
	if len(s) != len(idPrefix)+idRandomLen || !strings.HasPrefix(s, idPrefix) {
		return false
	}
	for _, c := range s[len(idPrefix):] {
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// CheckID is the one answer to a caller's deliberation id, wherever it arrives: nil when valid.
func CheckID(id string) error {
	if ValidID(id) {
		return nil
	}
	return &Error{Code: CodeInvalid, Message: "invalid deliberation id", Fields: []FieldError{{Field: "deliberation_id",
		Message: "deliberation_id must be delib- followed by 26 base32 characters"}}}
}

// SubmissionID is the deterministic Ray submission id of an attempt: the deliberation id for the
// first, `-a2`, `-a3`, ... after, so a duplicate submit is refused by Ray instead of running twice.
func SubmissionID(id string, attempt int) string {
	if attempt <= 1 {
		return id
	}
	return fmt.Sprintf("%s-a%d", id, attempt)
}

// ValidIdempotencyKey reports whether key is 1-255 printable ASCII characters.
func ValidIdempotencyKey(key string) bool {
	if key == "" || len(key) > maxIdempotency {
		return false
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return false
		}
	}
	return true
}

// CheckIdempotencyKey is the one answer to a caller's Idempotency-Key: nil when valid. Its message
// says "sent once" because the transport answers a header sent twice with it too.
func CheckIdempotencyKey(key string) error {
	if ValidIdempotencyKey(key) {
		return nil
	}
	return &Error{Code: CodeInvalid, Message: "invalid idempotency key", Fields: []FieldError{{Field: "Idempotency-Key",
		Message: "Idempotency-Key must be sent once with 1-255 printable ASCII characters"}}}
}

// checkIdentifier adds the problems of an identifier field (task_id, agent_id, role, ...).
func checkIdentifier(p *problems, field, name, value string) {
	switch {
	case strings.TrimSpace(value) == "":
		p.add(field, "%s cannot be empty", name)
	case len(value) > maxIdentifier:
		p.add(field, "%s is longer than %d characters", name, maxIdentifier)
	case !onlyIdentifierChars(value):
		p.add(field, "%s has invalid characters", name)
	}
}

func onlyIdentifierChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune(identifierChars, rune(s[i])) {
			return false
		}
	}
	return true
}
