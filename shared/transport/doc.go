// Package transport is what the inbound surfaces of a function share: the function catalogue
// (catalogue.go: which use cases, routes, CloudEvent types and RPC procedures each function serves
// and which ports it needs), the use-case interfaces the surfaces call (backend.go), the
// CloudEvent types a caller sends and gets back, the one table from application error codes to
// HTTP answers, and the Idempotency-Key rule. The surfaces themselves live below it: httpapi (JSON
// routes and CloudEvents, and the function's endpoint that puts every surface on one port), rpc
// (RayExecutorService through connect-go) and observe (request metrics, the log line, trace
// context).
package transport
