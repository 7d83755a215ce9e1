// Package faults is the fault suite of docs/development.md, run by `make test-faults`. It drives
// the real function binaries over HTTP under a steady load of deliberations on a Ray head of its
// own and the fake model server, while it SIGKILLs and restarts redis-server (AOF, appendfsync
// always), stops and restarts the Ray head, cuts NATS and replays CloudEvents concurrently; then it
// checks the invariants of docs/state.md and that every lifecycle event reached JetStream exactly
// once.
//
// The scenario takes minutes and owns a Ray head on fixed ports, so its tests build only with the
// `faults` tag; under CI=true a missing prerequisite (redis-server, nats-server, the project's Ray)
// fails it.
package faults
