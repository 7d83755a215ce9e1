package functest

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rayexecutor/functions/internal/launcher"
	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/transport"
)

// sdkPython is the project's Python with the pinned CloudEvents SDK.
func sdkPython(t *testing.T) string {
	t.Helper()
	return venvPython(t, "cloudevents.core.bindings.http", "cloudevents")
}

// TestCloudEventsPythonSDK drives every function binary (the four and the combined function) with
// the official Python CloudEvents SDK as its users send events: binary mode with and without
// datacontenttype, and structured mode. Every reply must be a 200 the SDK parses into the reply
// event with its data.
func TestCloudEventsPythonSDK(t *testing.T) {
	t.Parallel()
	python := sdkPython(t)
	bin := functionBinaries(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()

	stack := NewStack(t)
	id := stack.Seed(t, 1)[0]
	var request map[string]any
	if err := json.Unmarshal([]byte(ValidRequest), &request); err != nil {
		t.Fatal(err)
	}
	type event struct {
		Type  string         `json:"type"`
		Data  map[string]any `json:"data"`
		reply string
		check func(data map[string]any) bool
	}
	byFunction := map[transport.Function][]event{
		transport.FunctionExecute: {{Type: transport.TypeExecuteRequested, Data: request, reply: deliberation.TypeSubmitted,
			check: func(d map[string]any) bool {
				return d["status"] == "submitted" && strings.HasPrefix(d["deliberation_id"].(string), "delib-")
			}}},
		transport.FunctionStatus: {{Type: transport.TypeStatusRequested, Data: map[string]any{"deliberation_id": id}, reply: transport.TypeStatus,
			check: func(d map[string]any) bool { return d["deliberation_id"] == id && d["status"] != "not_found" }}},
		transport.FunctionStats: {{Type: transport.TypeStatsRequested, Data: map[string]any{}, reply: transport.TypeStats,
			check: func(d map[string]any) bool { return d["status"] == "healthy" }}},
		transport.FunctionJobs: {{Type: transport.TypeJobsRequested, Data: map[string]any{"limit": 5}, reply: transport.TypeJobs,
			check: func(d map[string]any) bool { _, ok := d["jobs"].([]any); return ok }}},
	}
	for _, f := range transport.Functions {
		byFunction[transport.FunctionCombined] = append(byFunction[transport.FunctionCombined], byFunction[f]...)
	}
	binaries := map[transport.Function]string{transport.FunctionCombined: "combined"}
	for _, f := range transport.Functions {
		binaries[f] = string(f)
	}

	type target struct {
		Function string  `json:"function"`
		URL      string  `json:"url"`
		Events   []event `json:"events"`
	}
	var plan struct {
		Targets []target `json:"targets"`
	}
	for f, name := range binaries {
		fn := Start(t, filepath.Join(bin, name), stack.Env(map[string]string{"LOG_LEVEL": "info"}))
		plan.Targets = append(plan.Targets, target{Function: string(f), URL: fn.URL + "/", Events: byFunction[f]})
	}
	input, err := json.Marshal(plan)
	if err != nil {
		t.Fatal(err)
	}
	planFile := filepath.Join(t.TempDir(), "plan.json")
	if err := os.WriteFile(planFile, input, 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	err = launcher.Run(ctx, launcher.Command{Path: python, Args: []string{filepath.Join("testdata", "cloudevents_sdk.py"), planFile},
		Env: append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1"), Stdout: &stdout, Stderr: &stderr}, 5*time.Second)
	if err != nil {
		t.Fatalf("the SDK client failed: %v\n%s", err, stderr.String())
	}
	var records []struct {
		Function, Type, Mode, Error, Body string
		RequestContentType                string `json:"request_content_type"`
		Status                            int
		ReplyType                         string         `json:"reply_type"`
		ReplySource                       string         `json:"reply_source"`
		ReplyID                           string         `json:"reply_id"`
		ReplyData                         map[string]any `json:"reply_data"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &records); err != nil {
		t.Fatalf("the SDK client's output: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	want := 0
	for _, f := range byFunction {
		want += 3 * len(f)
	}
	if len(records) != want {
		t.Errorf("%d requests sent, want %d", len(records), want)
	}
	for _, r := range records {
		var ev event
		for _, e := range byFunction[transport.Function(r.Function)] {
			if e.Type == r.Type {
				ev = e
			}
		}
		switch {
		case r.Error != "":
			t.Errorf("%s, %s, %s: %s", r.Function, r.Type, r.Mode, r.Error)
		case r.Status != 200:
			t.Errorf("%s, %s, %s (Content-Type %q): %d %s", r.Function, r.Type, r.Mode, r.RequestContentType, r.Status, r.Body)
		case r.ReplyType != ev.reply || r.ReplyID == "" || r.ReplySource != "/rayexecutor/"+r.Function || !ev.check(r.ReplyData):
			t.Errorf("%s, %s, %s: reply %s from %s (id %q) with %v", r.Function, r.Type, r.Mode, r.ReplyType, r.ReplySource, r.ReplyID, r.ReplyData)
		}
		if r.Mode == "binary, no datacontenttype" && r.RequestContentType != "" {
			t.Errorf("the SDK sent Content-Type %q without datacontenttype", r.RequestContentType)
		}
	}
}
