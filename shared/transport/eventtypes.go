package transport

// CloudEvent types of SPEC 7.
const (
	TypeExecuteRequested = "dev.rayexecutor.deliberation.requested.v1"
	TypeStatusRequested  = "dev.rayexecutor.deliberation.status.requested.v1"
	TypeStatsRequested   = "dev.rayexecutor.stats.requested.v1"
	TypeJobsRequested    = "dev.rayexecutor.jobs.requested.v1"
	// TypePing is what a Knative PingSource sends: it triggers a reconcile pass.
	TypePing = "dev.knative.sources.ping"
	// TypeFinished is the wake-up a deliberation job sends when it is done. It carries no
	// authority and is the one request accepted without the bearer token.
	TypeFinished = "dev.rayexecutor.deliberation.finished.v1"

	TypeSubmitted = "dev.rayexecutor.deliberation.submitted.v1"
	TypeStatus    = "dev.rayexecutor.deliberation.status.v1"
	TypeStats     = "dev.rayexecutor.stats.v1"
	TypeJobs      = "dev.rayexecutor.jobs.v1"
)
