// Package launcher starts and stops child processes for the project's tooling: the black-box
// tests of the function binaries, the bench, the fault suite and the local stack of `make run`.
// It starts a binary with an exact environment and output, waits for its readiness probe, stops
// it as Kubernetes does (SIGTERM, then SIGKILL after a grace period), optionally with everything
// it spawned, and builds the binaries with one `go build`. The functions never import it.
package launcher
