package deliberation

// The CloudEvent types the domain owns: the lifecycle events the service publishes (the NATS
// publisher stamps them, and execute's CloudEvent reply is TypeSubmitted) and the wake-up the
// deliberation job sends. The requests callers send and their replies are the transport's.
const (
	// TypeFinished is the wake-up a deliberation job sends when it is done. It carries no
	// authority and is the one request accepted without the bearer token.
	TypeFinished = "dev.rayexecutor.deliberation.finished.v1"

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
