package deliberation

import (
	"errors"
	"strings"
	"testing"
)

func TestIDs(t *testing.T) {
	id := NewID()
	if !ValidID(id) || len(id) != 32 || id == NewID() {
		t.Fatalf("NewID = %q: want a fresh valid id", id)
	}
	if IDFromKey("k") != IDFromKey("k") || IDFromKey("k") == IDFromKey("k2") || !ValidID(IDFromKey("k")) {
		t.Fatal("IDFromKey must be deterministic, distinct per key and valid")
	}
	for _, bad := range []string{"", "../../x", "delib-" + strings.Repeat("a", 25), "delib-" + strings.Repeat("A", 26),
		"delib-" + strings.Repeat("a", 25) + "\x00", strings.Repeat("a", 5000), "delib-" + strings.Repeat("1", 26)} {
		if ValidID(bad) {
			t.Errorf("ValidID(%q) = true", bad)
		}
	}
	if SubmissionID(id, 1) != id || SubmissionID(id, 3) != id+"-a3" {
		t.Fatal("submission ids must be the id, then -aN")
	}
}

func TestIdempotencyKeys(t *testing.T) {
	for key, ok := range map[string]bool{"abc-123": true, "": false, strings.Repeat("k", 255): true,
		strings.Repeat("k", 256): false, "tab\tkey": false, "é": false, "sp ace": true} {
		if ValidIdempotencyKey(key) != ok {
			t.Errorf("ValidIdempotencyKey(%q) = %v", key, !ok)
		}
	}
}

// The checks answer every caller, HTTP or CloudEvent, with one invalid error naming the field.
func TestChecksNameTheField(t *testing.T) {
	if CheckID(NewID()) != nil || CheckIdempotencyKey("k") != nil {
		t.Fatal("a valid id or key must pass")
	}
	for field, err := range map[string]error{"deliberation_id": CheckID("../x"), "Idempotency-Key": CheckIdempotencyKey("")} {
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeInvalid || len(e.Fields) != 1 || e.Fields[0].Field != field {
			t.Errorf("%s: %v", field, err)
		}
	}
}
