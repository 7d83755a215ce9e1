package rpc

import (
	"errors"
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"github.com/rayexecutor/functions/shared/deliberation"
	executorv1 "github.com/rayexecutor/functions/shared/proto/fleet/ray_executor/v1"
)

// FuzzRPCExecuteRequest feeds arbitrary protobuf bytes to the execute RPC's path after connect-go
// has decoded them: conversion, then validation. Whatever arrives, the answer is an invalid-input
// error naming bounded, valid UTF-8 fields, or a valid request; and the same message sent again
// has the same fingerprint, so a retry under an idempotency key is a replay, not a conflict.
func FuzzRPCExecuteRequest(f *testing.F) {
	valid := &executorv1.ExecuteDeliberationRequest{
		TaskId: "task-1", TaskDescription: "Implement the cache", Role: "DEV",
		Constraints: &executorv1.TaskConstraints{StoryId: "s", TimeoutSeconds: 60, MaxRetries: 1, Metadata: map[string]string{"k": "v"}},
		Agents:      []*executorv1.Agent{{Id: "a1", Role: "DEV", Model: "m"}, {Id: "a2", Role: "QA", Model: "m", PromptTemplate: "{task}"}},
		VllmUrl:     "http://127.0.0.1:8000", VllmModel: "judge",
	}
	for _, m := range []*executorv1.ExecuteDeliberationRequest{valid, {}, {Agents: []*executorv1.Agent{{}}}, {Constraints: &executorv1.TaskConstraints{TimeoutSeconds: -1, MaxRetries: 99}}} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var m executorv1.ExecuteDeliberationRequest
		if proto.Unmarshal(body, &m) != nil {
			return // connect-go answers INVALID_ARGUMENT before our code runs
		}
		req, err := deliberation.NewRequest(executeInput(&m), limits)
		if err != nil {
			checkInvalid(t, err)
			var de *deliberation.Error
			errors.As(err, &de)
			for _, fe := range de.Fields {
				if v := rpcViolation(fe); v.Field == "" || v.Message == "" {
					t.Fatalf("field %q has no name on the RPC path", fe.Field)
				}
			}
			return
		}
		again, err := deliberation.NewRequest(executeInput(proto.Clone(&m).(*executorv1.ExecuteDeliberationRequest)), limits)
		if err != nil || again.Fingerprint() != req.Fingerprint() {
			t.Fatalf("the same message validated twice differs: %v", err)
		}
	})
}

// limits admit any model server, so the fuzzer reaches past the allowlist into the rest of validation.
var limits = deliberation.Limits{Allowlist: deliberation.AllowAny(nil)}

// checkInvalid asserts an invalid-input error whose problems each have a message and name a
// bounded, valid UTF-8 field: they are echoed in the RPC status and the log line.
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
		if fe.Message == "" || !utf8.ValidString(fe.Field) || len(fe.Field) > 320 {
			t.Fatalf("field problem %q: %q", fe.Field, fe.Message)
		}
	}
}
