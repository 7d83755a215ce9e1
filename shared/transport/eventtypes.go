package transport

// The CloudEvent types a caller sends to the functions and the replies it gets. Only the inbound
// surface reads them; the lifecycle types the service publishes (TypeSubmitted, the reply to
// execute, among them) and the job's wake-up (TypeFinished) are the domain's, in shared/deliberation.
const (
	// Requests, one per use case.
	TypeExecuteRequested = "dev.rayexecutor.deliberation.requested.v1"
	TypeStatusRequested  = "dev.rayexecutor.deliberation.status.requested.v1"
	TypeStatsRequested   = "dev.rayexecutor.stats.requested.v1"
	TypeJobsRequested    = "dev.rayexecutor.jobs.requested.v1"
	// TypeCancelRequested asks to cancel a deliberation ({deliberation_id, reason?}); the reply
	// is TypeStatus.
	TypeCancelRequested = "dev.rayexecutor.deliberation.cancel.requested.v1"

	// Replies to those requests. Execute's reply is the lifecycle type deliberation.TypeSubmitted.
	TypeStatus = "dev.rayexecutor.deliberation.status.v1"
	TypeStats  = "dev.rayexecutor.stats.v1"
	TypeJobs   = "dev.rayexecutor.jobs.v1"

	// TypePing is what a Knative PingSource sends: it triggers a reconcile pass.
	TypePing = "dev.knative.sources.ping"
)
