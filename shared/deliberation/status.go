package deliberation

// Status is where a deliberation stands; its string is the wire form everywhere.
type Status string

const (
	StatusSubmitted Status = "submitted"
	StatusRunning   Status = "running"
	StatusCompleted Status = "completed"
	StatusFailed    Status = "failed"
	// StatusCancelled is terminal: a caller cancelled the deliberation before it finished.
	StatusCancelled Status = "cancelled"
	// StatusNotFound is only ever an answer, never a stored state.
	StatusNotFound Status = "not_found"
)

// Terminal reports whether the status can never change again.
func (s Status) Terminal() bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusCancelled
}
