package deliberation

// JobState is Ray's word for a job's state, spelled as its Jobs API spells it. It lives in the
// domain because an entry records the current job's state (RayStatus, JobInfo), and every layer
// (use cases, the Ray adapter, its fake) reads and writes these same words.
type JobState string

const (
	JobPending   JobState = "PENDING"
	JobRunning   JobState = "RUNNING"
	JobSucceeded JobState = "SUCCEEDED"
	JobFailed    JobState = "FAILED"
	JobStopped   JobState = "STOPPED"
)

// Terminal reports whether Ray will not change the job's state any more.
func (s JobState) Terminal() bool { return s == JobSucceeded || s == JobFailed || s == JobStopped }
