// Package httpapi is the HTTP surface of a function and the endpoint that holds every surface on
// one port: the JSON routes and the CloudEvents (binary and structured mode) of its catalogue
// entry (docs/api.md), errors as RFC 9457 problem+json, bounded headers and bodies, the bearer
// token, and the RPC surface (package rpc) mounted beside them; each request is counted and
// logged once (package observe). It runs as a func-go instance's handler.
package httpapi
