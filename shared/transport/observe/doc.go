// Package observe is what an operator sees of the inbound requests, whichever surface took them:
// the Prometheus request metrics, the one log line per request (and the level a failure is
// logged at), and the W3C trace context a request carries, which every log line about it repeats.
package observe
