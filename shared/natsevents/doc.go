// Package natsevents delivers the lifecycle events of deliberations (submitted, started, completed,
// failed) to NATS JetStream as structured CloudEvents 1.0, on `<prefix>.deliberation.<event>`.
//
// It never publishes on its own account: the state store records each event in its outbox in the
// same atomic step as the transition that causes it, and this package drains the outbox, in order
// per deliberation, removing an event only after JetStream acknowledged it. The CloudEvent id and
// the Nats-Msg-Id header are both `<submission id>.<event>`, so the stream's duplicate window
// absorbs the rare second publish of an event (a drain that stopped between the acknowledgement
// and the removal, or two replicas draining the same deliberation).
//
// Nothing here blocks a request or startup: the connection is made in the background and retried
// forever, drains run in the background with a bounded timeout and a bounded number at once, and
// nothing is attempted while disconnected; the events wait in the outbox until the connection
// returns (which starts a catch-up drain) or the next reconcile pass.
package natsevents
