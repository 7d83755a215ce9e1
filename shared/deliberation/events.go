package deliberation

// Event names of the lifecycle; their CloudEvent types are in eventtypes.go.
const (
	EventSubmitted = "submitted"
	EventStarted   = "started"
	EventCompleted = "completed"
	EventFailed    = "failed"
	EventCancelled = "cancelled"
)

// LifecycleEvent is one event caused by a transition, with the entry as it stands after it.
type LifecycleEvent struct {
	Name         string       `json:"name"`
	Deliberation Deliberation `json:"deliberation"`
}

// ID is unique per submission and event (`<submission id>.<event>`), so a redelivered event is
// recognised as the same one and a retry attempt has its own `started`.
func (e LifecycleEvent) ID() string { return e.Deliberation.SubmissionID + "." + e.Name }

// Events lists what the transition from before to after caused. A zero before means creation.
func Events(before, after Deliberation) []LifecycleEvent {
	var names []string
	if before.ID == "" {
		names = append(names, EventSubmitted)
	}
	if after.Status == StatusRunning && (before.Status != StatusRunning || before.SubmissionID != after.SubmissionID) {
		names = append(names, EventStarted)
	}
	if !before.Status.Terminal() {
		switch after.Status {
		case StatusCompleted:
			names = append(names, EventCompleted)
		case StatusFailed:
			names = append(names, EventFailed)
		case StatusCancelled:
			names = append(names, EventCancelled)
		}
	}
	out := make([]LifecycleEvent, len(names))
	for i, n := range names {
		out[i] = LifecycleEvent{Name: n, Deliberation: after}
	}
	return out
}
