// Package transport serves the use cases over HTTP: one endpoint per function that takes plain
// JSON and CloudEvents (binary and structured mode) alike, answers errors as RFC 9457
// problem+json, bounds headers and bodies, checks the bearer token, passes W3C trace context
// through, counts requests for Prometheus, and runs as a func-go instance.
package transport
