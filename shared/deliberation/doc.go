// Package deliberation is the domain of the Ray executor: the request to run N agents on one task,
// their result, the registry entry that tracks a deliberation through its lifecycle, the service
// statistics and the error type every layer speaks. It imports nothing beyond the standard library.
package deliberation
