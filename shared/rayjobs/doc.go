// Package rayjobs is the jobs dispatch: the app.RayCluster port on Ray's Jobs REST API, one Ray
// job per attempt.
//
// Client is a small client of the API as the real server speaks it (trailing-slash submit path,
// text/plain error bodies, HTTP 500 for a duplicate submission id): typed errors, per-call
// timeouts under the caller's context, retries with backoff for idempotent calls only, and a
// circuit breaker so that, while Ray is down, calls fail at once instead of each waiting for a
// timeout. Cluster builds the port on it: it submits deliberation jobs under their deterministic
// submission ids, maps Ray's job status to the domain and reads the result line a job printed.
package rayjobs
