package deliberation

// The CloudEvent types this service receives and sends, all of them: the HTTP transport routes
// and answers with them, the NATS publisher stamps the lifecycle ones. They are here because
// both adapters need them and neither may import the other.
const (
	// Requests, one per use case.
	TypeExecuteRequested = "dev.rayexecutor.deliberation.requested.v1"
	TypeStatusRequested  = "dev.rayexecutor.deliberation.status.requested.v1"
	TypeStatsRequested   = "dev.rayexecutor.stats.requested.v1"
	TypeJobsRequested    = "dev.rayexecutor.jobs.requested.v1"
	// TypeCancelRequested asks to cancel a deliberation ({deliberation_id, reason?}); the reply
	// is TypeStatus.
	TypeCancelRequested = "dev.rayexecutor.deliberation.cancel.requested.v1"

	// Replies to those requests. Execute's reply is the lifecycle type TypeSubmitted.
	TypeStatus = "dev.rayexecutor.deliberation.status.v1"
	TypeStats  = "dev.rayexecutor.stats.v1"
	TypeJobs   = "dev.rayexecutor.jobs.v1"

	// TypeFinished is the wake-up a deliberation job sends when it is done. It carries no
	// authority and is the one request accepted without the bearer token.
	TypeFinished = "dev.rayexecutor.deliberation.finished.v1"
	// TypePing is what a Knative PingSource sends: it triggers a reconcile pass.
	TypePing = "dev.knative.sources.ping"

	// Lifecycle events, published on NATS: lifecycleTypePrefix + event name + ".v1".
	TypeSubmitted = lifecycleTypePrefix + EventSubmitted + ".v1"
	TypeStarted   = lifecycleTypePrefix + EventStarted + ".v1"
	TypeCompleted = lifecycleTypePrefix + EventCompleted + ".v1"
	TypeFailed    = lifecycleTypePrefix + EventFailed + ".v1"
	TypeCancelled = lifecycleTypePrefix + EventCancelled + ".v1"
)

const lifecycleTypePrefix = "dev.rayexecutor.deliberation."

// Type is the CloudEvent type of the event.
func (e LifecycleEvent) Type() string { return lifecycleTypePrefix + e.Name + ".v1" }
