// Package wiring is the composition root of every function: it reads the configuration, picks
// the adapters (Redis, Ray, NATS) of the ports the function's catalogue entry lists
// (shared/transport), builds the use cases over them, hands them to the transport, and owns the
// func-go lifecycle and the process's tuning (GC pacing, batched logs). Swapping an adapter is a
// change here and nowhere else; see docs/architecture.md for who may import whom.
package wiring
