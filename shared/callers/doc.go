// Package callers is who may call the functions: the operator holding API_TOKEN, the named callers
// of CALLERS_FILE (each with a role and its own quotas), and the caller a Knative Broker's
// deliveries act as (BROKER_CALLER). The transport authenticates a request into a Caller and puts
// it in the request's context; the use cases read it from there (From) to record, filter and count.
package callers
