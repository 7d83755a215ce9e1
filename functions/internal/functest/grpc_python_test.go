package functest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/rayexecutor/functions/internal/launcher"
	"github.com/rayexecutor/functions/shared/deliberation"
	executorv1 "github.com/rayexecutor/functions/shared/proto/fleet/ray_executor/v1"
	"github.com/rayexecutor/functions/shared/transport"
)

// grpcPython is the project's Python with the pinned grpcio and grpcio-tools.
func grpcPython(t *testing.T) string {
	t.Helper()
	return venvPython(t, "grpc, grpc_tools.protoc", "grpcio", "grpcio-tools")
}

// pyOutcome is one call of the Python client: its status code's name, and the answer (proto3
// JSON as json_format writes it) or the error's details and google.rpc.Status trailer.
type pyOutcome struct {
	Code          string          `json:"code"`
	Response      json.RawMessage `json:"response"`
	Details       string          `json:"details"`
	StatusDetails string          `json:"status_details"`
	HasResult     *bool           `json:"has_result"`
	HasStats      *bool           `json:"has_stats"`
}

// into reads the answer into m: what Python serialized must be the Go message's JSON too.
func (o pyOutcome) into(t *testing.T, what string, m proto.Message) bool {
	t.Helper()
	if o.Code != "OK" {
		t.Errorf("%s: %s %s", what, o.Code, o.Details)
		return false
	}
	if err := protojson.Unmarshal(o.Response, m); err != nil {
		t.Errorf("%s: %v in %s", what, err, o.Response)
		return false
	}
	return true
}

// TestGRPCPythonClient generates the Python client from the contract with grpcio-tools, as
// docs/grpc.md tells other languages to, and calls every RPC with RayExecutorServiceStub over an
// insecure channel against the combined binary (and the stats function, which answers
// UNIMPLEMENTED for the execute RPC), with a token and an idempotency key as metadata.
func TestGRPCPythonClient(t *testing.T) {
	t.Parallel()
	python := grpcPython(t)
	gen := t.TempDir()
	var protocOut bytes.Buffer
	err := launcher.Run(t.Context(), launcher.Command{Path: python, Dir: repoRoot, Args: []string{"-m", "grpc_tools.protoc",
		"-I", "shared/proto", "--python_out=" + gen, "--grpc_python_out=" + gen, "shared/proto/fleet/ray_executor/v1/ray_executor.proto"},
		Stdout: &protocOut, Stderr: &protocOut}, time.Second)
	if err != nil {
		t.Fatalf("grpc_tools.protoc: %v\n%s", err, protocOut.String())
	}
	for _, f := range []string{"ray_executor_pb2.py", "ray_executor_pb2_grpc.py"} {
		if _, err := os.Stat(filepath.Join(gen, "fleet", "ray_executor", "v1", f)); err != nil {
			t.Fatalf("grpc_tools.protoc wrote no %s: %v\n%s", f, err, protocOut.String())
		}
	}

	const token = "py-token-9"
	stack := NewStack(t)
	env := map[string]string{"API_TOKEN": token, "LOG_LEVEL": "info"}
	fn := rpcProcess(t, stack, combined, env)
	statsFn := rpcProcess(t, stack, binaryOf(transport.FunctionStats), env)
	plan, err := json.Marshal(map[string]string{"combined": strings.TrimPrefix(fn.URL, "http://"),
		"stats_only": strings.TrimPrefix(statsFn.URL, "http://"), "token": token, "unknown_id": unknownID, "model_server": ModelServer})
	if err != nil {
		t.Fatal(err)
	}
	planFile := filepath.Join(t.TempDir(), "plan.json")
	if err := os.WriteFile(planFile, plan, 0o644); err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs(filepath.Join("testdata", "grpc_client.py"))
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	err = launcher.Run(t.Context(), launcher.Command{Path: python, Args: []string{script, gen, planFile},
		Env: append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1"), Stdout: &stdout, Stderr: &stderr}, 5*time.Second)
	if err != nil {
		t.Fatalf("the Python client failed: %v\n%s", err, stderr.String())
	}
	var got struct {
		Execute          pyOutcome   `json:"execute"`
		ExecuteReplay    pyOutcome   `json:"execute_replay"`
		Backlog          pyOutcome   `json:"backlog"`
		Status           pyOutcome   `json:"status"`
		StatusUnknown    pyOutcome   `json:"status_unknown"`
		Stats            pyOutcome   `json:"stats"`
		StatsBare        pyOutcome   `json:"stats_bare"`
		JobPages         []pyOutcome `json:"job_pages"`
		Invalid          pyOutcome   `json:"invalid"`
		NoToken          pyOutcome   `json:"no_token"`
		Health           string      `json:"health"`
		ElsewhereExecute pyOutcome   `json:"elsewhere_execute"`
		ElsewhereStats   pyOutcome   `json:"elsewhere_stats"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("the Python client's output: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}

	var ids []string
	for _, c := range []struct {
		name string
		o    pyOutcome
	}{{"ExecuteDeliberation", got.Execute}, {"its replay", got.ExecuteReplay}, {"ExecuteBacklogReviewDeliberation", got.Backlog}} {
		name, res := c.name, &executorv1.ExecuteDeliberationResponse{}
		if c.o.into(t, name, res) && (!deliberation.ValidID(res.DeliberationId) || (res.Status != "submitted" && res.Status != "running") ||
			!strings.HasPrefix(res.TaskId, "task-py")) {
			t.Errorf("%s: %v", name, res)
		}
		if _, ok := stack.Ray.Job(res.DeliberationId); !ok {
			t.Errorf("%s: Ray has no job %s", name, res.DeliberationId)
		}
		ids = append(ids, res.DeliberationId)
	}
	if ids[0] != ids[1] || ids[0] == ids[2] {
		t.Errorf("ids %v: the idempotency key must replay the first as the second, and the backlog review is another", ids)
	}

	st := &executorv1.GetDeliberationStatusResponse{}
	if got.Status.into(t, "GetDeliberationStatus", st) && ((st.Status != "submitted" && st.Status != "running") || got.Status.HasResult == nil || *got.Status.HasResult) {
		t.Errorf("GetDeliberationStatus: %v, result set %v", st, got.Status.HasResult)
	}
	if got.StatusUnknown.Code != "NOT_FOUND" || !strings.Contains(got.StatusUnknown.Details, unknownID) {
		t.Errorf("GetDeliberationStatus of an unknown id: %s %q, want NOT_FOUND naming it", got.StatusUnknown.Code, got.StatusUnknown.Details)
	}

	stats := &executorv1.GetStatusResponse{}
	if got.Stats.into(t, "GetStatus", stats) {
		s := stats.Stats
		// Two deliberations: the replay is the first one.
		if stats.Status != "healthy" || s.GetTotalDeliberations() != 2 || s.GetActiveDeliberations() != 2 ||
			s.GetTotalDeliberations() != s.GetActiveDeliberations()+s.GetCompletedDeliberations()+s.GetFailedDeliberations()+s.GetCancelledDeliberations() {
			t.Errorf("GetStatus with stats: %v", stats)
		}
	}
	bare := &executorv1.GetStatusResponse{}
	if got.StatsBare.into(t, "GetStatus without stats", bare) && (bare.Status != "healthy" || got.StatsBare.HasStats == nil || *got.StatsBare.HasStats) {
		t.Errorf("GetStatus without stats: %v, stats set %v", bare, got.StatsBare.HasStats)
	}

	var listed []string
	for i, page := range got.JobPages {
		res := &executorv1.GetActiveJobsResponse{}
		if !page.into(t, "GetActiveJobs", res) {
			break
		}
		if len(res.Jobs) != 1 || (i < len(got.JobPages)-1) != (res.NextPageToken != "") {
			t.Errorf("page %d of size 1: %v", i, res)
		}
		for _, j := range res.Jobs {
			listed = append(listed, j.SubmissionId)
			if j.JobId != j.SubmissionId || j.StartTime == nil || j.EndTime != nil || (j.Status != "PENDING" && j.Status != "RUNNING") {
				t.Errorf("job %v", j)
			}
		}
	}
	if want := []string{ids[0], ids[2]}; strings.Join(listed, ",") != strings.Join(want, ",") {
		t.Errorf("pages of 1 listed %v, want %v", listed, want)
	}

	if got.Invalid.Code != "INVALID_ARGUMENT" || !strings.Contains(got.Invalid.StatusDetails, "type.googleapis.com/google.rpc.BadRequest") ||
		!strings.Contains(got.Invalid.StatusDetails, "task_id") || !strings.Contains(got.Invalid.StatusDetails, "agents[0].id") {
		t.Errorf("an invalid request: %s %q with status details %q; want INVALID_ARGUMENT with a BadRequest naming task_id and agents[0].id",
			got.Invalid.Code, got.Invalid.Details, got.Invalid.StatusDetails)
	}
	if got.NoToken.Code != "UNAUTHENTICATED" {
		t.Errorf("without the token: %s %q", got.NoToken.Code, got.NoToken.Details)
	}
	if got.Health != "0801" {
		t.Errorf("health without a token answered %q, want 0801 (SERVING)", got.Health)
	}
	if got.ElsewhereExecute.Code != "UNIMPLEMENTED" || !strings.Contains(got.ElsewhereExecute.Details, string(transport.FunctionStats)) {
		t.Errorf("ExecuteDeliberation on the stats function: %s %q, want UNIMPLEMENTED naming it", got.ElsewhereExecute.Code, got.ElsewhereExecute.Details)
	}
	elsewhere := &executorv1.GetStatusResponse{}
	if got.ElsewhereStats.into(t, "GetStatus on the stats function", elsewhere) && elsewhere.Stats.GetTotalDeliberations() != 2 {
		t.Errorf("GetStatus on the stats function: %v", elsewhere)
	}
}
