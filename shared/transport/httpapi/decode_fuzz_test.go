package httpapi

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// limits admit any model server, so the fuzzer reaches past the allowlist into the rest of validation.
var limits = deliberation.Limits{Allowlist: deliberation.AllowAny(nil)}

// FuzzDecodeExecuteRequest feeds arbitrary bodies to the plain JSON path of execute: the strict
// decoder, then validation. Whatever arrives, the answer is an invalid-input error naming a
// bounded field, or a valid request; and a valid request, sent again as the service normalized it,
// has the same fingerprint, so a caller replaying what it reads back is a replay, not a conflict.
func FuzzDecodeExecuteRequest(f *testing.F) {
	f.Add([]byte(validExecuteBody))
	f.Add([]byte(`{"task_id":"t","agents":[{"agent_id":1}],"constraints":{"metadata":{"":"x"}}}`))
	f.Add([]byte(`{"constraints":{"timeout_seconds":1e99,"max_retries":-1}} {}`))
	f.Add([]byte(`{"task_id":"t","unknown_field_with_a_long_name":true}`))
	f.Add([]byte(`[{"task_id":"t"}]`))
	f.Add([]byte(`{"` + strings.Repeat("\uFFFD", 60) + `":1}`))
	f.Add([]byte(`{"constraints":{"metadata":{"k":7}}}`))
	f.Add([]byte(`{"constraints":{"metadata":{"` + strings.Repeat("k", 400) + `":"` + strings.Repeat("v", 1100) + `"}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var in deliberation.RequestInput
		if err := decodeStrict(body, &in, "body"); err != nil {
			checkInvalid(t, err)
			return
		}
		req, err := deliberation.NewRequest(in, limits)
		if err != nil {
			checkInvalid(t, err)
			return
		}
		again, err := req.JobPayload("delib-aaaaaaaaaaaaaaaaaaaaaaaaaa", limits.JobPolicy())
		if err != nil {
			t.Fatal(err)
		}
		var in2 struct {
			DeliberationID string `json:"deliberation_id"`
			deliberation.RequestInput
			Policy deliberation.JobPolicy `json:"policy"`
		}
		if err := decodeStrict(again, &in2, "body"); err != nil {
			t.Fatalf("the normalized request does not decode: %v\n%s", err, again)
		}
		req2, err := deliberation.NewRequest(in2.RequestInput, limits)
		if err != nil {
			t.Fatalf("the normalized request is invalid: %v\n%s", err, again)
		}
		if req.Fingerprint() != req2.Fingerprint() {
			t.Fatalf("fingerprint changed when the normalized request was sent again:\n%s", again)
		}
	})
}

// checkInvalid asserts an invalid-input error whose problems each have a message and name a
// bounded, valid UTF-8 field (empty only when the caller's unknown field is itself named ""): they
// are echoed in the answer and the log line.
func checkInvalid(t *testing.T, err error) {
	t.Helper()
	var de *deliberation.Error
	if !errors.As(err, &de) || de.Code != deliberation.CodeInvalid {
		t.Fatalf("want an invalid-input error, got %T %v", err, err)
	}
	if len(de.Fields) == 0 {
		t.Fatalf("invalid input without field problems: %v", err)
	}
	for _, fe := range de.Fields {
		if fe.Message == "" || !utf8.ValidString(fe.Field) || len(fe.Field) > 2*maxFieldName+64 {
			t.Fatalf("field problem %q: %q", fe.Field, fe.Message)
		}
	}
}

const validExecuteBody = `{"task_id":"task-1","task_description":"Implement the cache","role":"DEV",
 "constraints":{"story_id":"story-1","timeout_seconds":60,"max_retries":0,"metadata":{"k":"v"}},
 "agents":[{"agent_id":"a1","role":"DEV","model":"m1","prompt_template":"{task}"},{"agent_id":"a2","role":"QA","model":"m2"}],
 "vllm_url":"http://127.0.0.1:8000","vllm_model":"judge"}`
