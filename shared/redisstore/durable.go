package redisstore

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Durability makes the store wait for replication after every write it acknowledges: the script
// and WAIT go out in one pipeline on one connection to the primary that holds the script's keys,
// because WAIT counts the replicas that have the last write of its own connection.
type Durability struct {
	// Replicas is WAIT's numreplicas (REDIS_MIN_REPLICAS_ACK); 0 waits for nothing.
	Replicas int
	// Timeout is WAIT's timeout (REDIS_WAIT_TIMEOUT).
	Timeout time.Duration
	// Short hears of every write fewer than Replicas replicas confirmed within Timeout: the write
	// stands (docs/state.md, Durability), the caller is told nothing, an operator is (a metric, a
	// warning). Nil hears nothing.
	Short func(ctx context.Context, key string, acked, want int)
}

// run runs script on keys (all in one slot) and, when durability is asked for, waits for the
// replicas on the same connection. The answer is the script's.
func (s *Store) run(ctx context.Context, script *redis.Script, keys []string, args ...any) *redis.Cmd {
	d := s.durability
	if d.Replicas <= 0 {
		return script.Run(ctx, s.rdb, keys, args...)
	}
	eval, acked := s.runAndWait(ctx, script, keys, args)
	if eval.Err() == nil && acked < int64(d.Replicas) && d.Short != nil {
		d.Short(ctx, keys[0], int(acked), d.Replicas)
	}
	return eval
}

// runAndWait pipelines the script and WAIT on the primary of keys[0]. On one primary (standalone,
// Sentinel) that is the client itself, whose retries cover the pipeline (go-redis retries it on
// the first command's failover error). On Cluster it is the node client of the key's slot, which
// go-redis does not retry: a failover error there reloads the slot map and tries again, as often
// and with the backoff the cluster client is configured with.
func (s *Store) runAndWait(ctx context.Context, script *redis.Script, keys []string, args []any) (*redis.Cmd, int64) {
	cc, ok := s.rdb.(*redis.ClusterClient)
	if !ok {
		return evalAndWait(ctx, s.waiter, script, keys, args, s.durability)
	}
	o := cc.Options()
	var eval *redis.Cmd
	var acked int64
	for try := 0; ; try++ {
		node, err := cc.MasterForKey(ctx, keys[0])
		if err == nil {
			eval, acked = evalAndWait(ctx, node.WithTimeout(waitReadTimeout(node, s.durability)), script, keys, args, s.durability)
			err = eval.Err()
		} else {
			eval = redis.NewCmd(ctx)
			eval.SetErr(err)
		}
		if err == nil || !failoverError(err) || try >= o.MaxRedirects {
			return eval, acked
		}
		cc.ReloadState(ctx)
		backoff := min(o.MinRetryBackoff<<try, o.MaxRetryBackoff)
		select {
		case <-ctx.Done():
			return eval, acked
		case <-time.After(backoff):
		}
	}
}

// evalAndWait runs the script by its digest and WAIT in one pipeline, and again with the script's
// source when the server does not hold it yet (as Script.Run does).
func evalAndWait(ctx context.Context, c redis.Cmdable, script *redis.Script, keys []string, args []any, d Durability) (*redis.Cmd, int64) {
	var eval *redis.Cmd
	var wait *redis.IntCmd
	pipe := func(byDigest bool) {
		_, _ = c.Pipelined(ctx, func(p redis.Pipeliner) error {
			if byDigest {
				eval = script.EvalSha(ctx, p, keys, args...)
			} else {
				eval = script.Eval(ctx, p, keys, args...)
			}
			// Pipeliner has no Wait: the command by hand, as cmdable.Wait builds it.
			wait = redis.NewIntCmd(ctx, "wait", d.Replicas, d.Timeout.Milliseconds())
			return p.Process(ctx, wait)
		})
	}
	pipe(true)
	if redis.HasErrorPrefix(eval.Err(), "NOSCRIPT") {
		pipe(false)
	}
	return eval, wait.Val()
}

// waitReadTimeout is a read (and write) timeout that lets WAIT block for its timeout: a pipeline
// reads every reply within the client's one read timeout (Client.WithTimeout sets both).
func waitReadTimeout(c *redis.Client, d Durability) time.Duration {
	return c.Options().ReadTimeout + d.Timeout
}

// failoverError tells the errors a failover causes, after which the Cluster's slot map is reloaded
// and the write tried again on the slot's primary as it is then: the ones go-redis retries (a lost
// or refused connection, READONLY, LOADING, MASTERDOWN, CLUSTERDOWN, TRYAGAIN) and the
// redirections (MOVED, ASK) its cluster client follows.
func failoverError(err error) bool {
	var netErr net.Error
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &netErr) || errors.Is(err, redis.ErrClosed) {
		return true
	}
	for _, prefix := range []string{"READONLY", "LOADING", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "MOVED", "ASK"} {
		if strings.HasPrefix(err.Error(), prefix+" ") {
			return true
		}
	}
	return false
}
