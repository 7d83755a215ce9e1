package config

import (
	"fmt"
	"strconv"
	"time"
)

// RedisDurability asks the primary to confirm replication after every write the functions
// acknowledge to a caller (WAIT Replicas Timeout). Zero Replicas waits for nothing.
type RedisDurability struct {
	// Replicas is how many replicas must have the write (REDIS_MIN_REPLICAS_ACK).
	Replicas int
	// Timeout bounds the wait (REDIS_WAIT_TIMEOUT); a write that fewer replicas confirm in time
	// stands (docs/state.md, Durability).
	Timeout time.Duration
}

// maxReplicasAck bounds REDIS_MIN_REPLICAS_ACK: more replicas than any shape here runs is a typo.
const maxReplicasAck = 16

// maxWaitTimeout bounds REDIS_WAIT_TIMEOUT: the wait is on the request path, well inside func-go's
// 30 s request limit.
const maxWaitTimeout = 10 * time.Second

func parseReplicasAck(v string, dst *int) string {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > maxReplicasAck {
		return fmt.Sprintf("must be an integer from 0 (no wait) to %d, got %s", maxReplicasAck, quoted(v))
	}
	*dst = n
	return ""
}

func parseWaitTimeout(v string, dst *time.Duration) string {
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Millisecond || d > maxWaitTimeout {
		return fmt.Sprintf("must be a duration from 1ms to %s such as 1s or 250ms, got %s", maxWaitTimeout, quoted(v))
	}
	*dst = d
	return ""
}
