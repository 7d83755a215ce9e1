package rpc

import (
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
	executorv1 "github.com/rayexecutor/functions/shared/proto/fleet/ray_executor/v1"
)

// The RPC messages carry the same request as the JSON body, under the published contract's names
// (Agent.id for agent_id) and proto3's zero values: a timeout of 0 means the default, while a
// max_retries of 0 means no retry, as the replaced service read it.

// rpcConstraints are the fields both constraint messages share.
type rpcConstraints interface {
	GetStoryId() string
	GetTimeoutSeconds() int32
	GetMaxRetries() int32
	GetMetadata() map[string]string
}

func requestInput(taskID, description, role string, c rpcConstraints, planID string, agents []*executorv1.Agent, vllmURL, vllmModel, pool string) deliberation.RequestInput {
	in := deliberation.RequestInput{
		TaskID: taskID, TaskDescription: description, Role: role, VLLMURL: vllmURL, VLLMModel: vllmModel, Pool: pool,
		Agents: make([]deliberation.AgentConfig, 0, len(agents)),
	}
	retries := int(c.GetMaxRetries())
	in.Constraints = deliberation.ConstraintsInput{StoryID: c.GetStoryId(), PlanID: planID, MaxRetries: &retries, Metadata: c.GetMetadata()}
	if t := int(c.GetTimeoutSeconds()); t != 0 {
		in.Constraints.TimeoutSeconds = &t
	}
	for _, a := range agents {
		in.Agents = append(in.Agents, deliberation.AgentConfig{
			AgentID: a.GetId(), Role: a.GetRole(), Model: a.GetModel(), PromptTemplate: a.GetPromptTemplate()})
	}
	return in
}

// The generated getters answer zero values on a nil message, so absent constraints read as empty
// ones, as proto3 means them.
func executeInput(m *executorv1.ExecuteDeliberationRequest) deliberation.RequestInput {
	return requestInput(m.TaskId, m.TaskDescription, m.Role, m.GetConstraints(), m.GetConstraints().GetPlanId(), m.Agents, m.VllmUrl, m.VllmModel, m.Pool)
}

func backlogReviewInput(m *executorv1.ExecuteBacklogReviewDeliberationRequest) deliberation.RequestInput {
	return requestInput(m.TaskId, m.TaskDescription, m.Role, m.GetConstraints(), "", m.Agents, m.VllmUrl, m.VllmModel, m.Pool)
}

// rpcNames are the JSON request's names that the contract spells otherwise.
var rpcNames = map[string]string{"limit": "page_size", "cursor": "page_token", "Idempotency-Key": "idempotency-key"}

// rpcViolation states a field problem of the JSON request under the contract's names, in its
// field and in its description.
func rpcViolation(f deliberation.FieldError) deliberation.FieldError {
	if name, ok := rpcNames[f.Field]; ok {
		return deliberation.FieldError{Field: name, Message: strings.ReplaceAll(f.Message, f.Field, name)}
	}
	if rest, ok := strings.CutPrefix(f.Field, "agents["); ok {
		if i := strings.Index(rest, "]."); i >= 0 && rest[i+2:] == "agent_id" {
			return deliberation.FieldError{Field: "agents[" + rest[:i] + "].id", Message: strings.ReplaceAll(f.Message, "agent_id", "id")}
		}
	}
	return f
}

func submissionMessage(s app.Submission) *executorv1.ExecuteDeliberationResponse {
	return &executorv1.ExecuteDeliberationResponse{
		TaskId: s.TaskID, DeliberationId: s.DeliberationID, Status: string(s.Status), Message: s.Message}
}

// statusMessage carries the best result only: the contract has room for one.
func statusMessage(rep app.StatusReport) *executorv1.GetDeliberationStatusResponse {
	m := &executorv1.GetDeliberationStatusResponse{Status: string(rep.Status), ErrorMessage: rep.ErrorMessage,
		Cluster: rep.Cluster, Pool: rep.Pool}
	if rep.Result != nil && rep.Result.BestResult != nil {
		b := rep.Result.BestResult
		m.Result = &executorv1.DeliberationResult{
			AgentId: b.AgentID, Proposal: b.Proposal, Reasoning: b.Reasoning, Score: float32(b.Score), Metadata: b.Metadata}
	}
	return m
}

func statsMessage(rep app.StatsReport, withStats bool) *executorv1.GetStatusResponse {
	m := &executorv1.GetStatusResponse{Status: rep.Status, UptimeSeconds: int64(rep.UptimeSeconds)}
	if withStats {
		s := rep.Stats
		m.Stats = &executorv1.RayExecutorStats{
			TotalDeliberations: s.TotalDeliberations, ActiveDeliberations: s.ActiveDeliberations,
			CompletedDeliberations: s.CompletedDeliberations, FailedDeliberations: s.FailedDeliberations,
			CancelledDeliberations: s.CancelledDeliberations, AverageExecutionTimeMs: float32(s.AverageExecutionTimeMS)}
	}
	return m
}

func jobsMessage(page app.JobsPage) *executorv1.GetActiveJobsResponse {
	m := &executorv1.GetActiveJobsResponse{Jobs: make([]*executorv1.JobInfo, 0, len(page.Jobs)), NextPageToken: page.NextCursor}
	for _, j := range page.Jobs {
		m.Jobs = append(m.Jobs, &executorv1.JobInfo{
			JobId: j.JobID, Name: j.Name, Status: string(j.Status), SubmissionId: j.SubmissionID, Role: j.Role,
			TaskId: j.TaskID, StartTime: timestamppb.New(time.Unix(j.StartTimeSeconds, 0)), Runtime: j.Runtime,
			Cluster: j.Cluster})
	}
	return m
}
