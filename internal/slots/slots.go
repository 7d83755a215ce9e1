// Package slots is what the slot tests share: the Redis Cluster hash slot of a key, and a client
// hook that records the keys of every script call, multi-key command and MULTI transaction, so a
// test can fail on one whose keys span two slots (Redis Cluster would answer CROSSSLOT).
package slots

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Of is the Redis Cluster hash slot of key: CRC16 (XMODEM) of its hash tag (the text between the
// first '{' and the next '}', when not empty) or of the whole key, modulo 16384.
func Of(key string) int {
	if open := strings.IndexByte(key, '{'); open >= 0 {
		if end := strings.IndexByte(key[open+1:], '}'); end > 0 {
			key = key[open+1 : open+1+end]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}

// Group groups keys by hash slot.
func Group(keys []string) map[int][]string {
	slots := map[int][]string{}
	for _, k := range keys {
		slots[Of(k)] = append(slots[Of(k)], k)
	}
	return slots
}

// MultiName is the name a MULTI transaction is recorded under.
const MultiName = "MULTI"

// Recorder is a go-redis hook recording the keys of every script call (named by Names, by digest
// or by source), every multi-key command (MGET, DEL, EXISTS, UNLINK, RENAME, TOUCH) and every MULTI
// transaction (all the keys of its commands as one call). Add it to a single-node client: a
// cluster client sends its transactions differently.
type Recorder struct {
	Names map[string]string // script digest or source -> name
	mu    sync.Mutex
	calls map[string][][]string
}

// NewRecorder returns a Recorder naming scripts by names.
func NewRecorder(names map[string]string) *Recorder {
	return &Recorder{Names: names, calls: map[string][][]string{}}
}

// Calls are the keys of each recorded call, by name.
func (r *Recorder) Calls(name string) [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls[name])
}

// Recorded names what was recorded, sorted.
func (r *Recorder) Recorded() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, 0, len(r.calls))
	for name := range r.calls {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func (r *Recorder) add(name string, keys []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[name] = append(r.calls[name], keys)
}

// keysOf answers the name a command is recorded under and its keys; "" for a command of one key.
func (r *Recorder) keysOf(cmd redis.Cmder) (string, []string) {
	args := cmd.Args()
	var keys []string
	switch cmd.Name() {
	case "evalsha", "eval", "evalsha_ro", "eval_ro":
		n, _ := strconv.Atoi(fmt.Sprint(args[2]))
		name, ok := r.Names[fmt.Sprint(args[1])]
		if !ok {
			name = "a script not named"
		}
		for _, k := range args[3 : 3+n] {
			keys = append(keys, fmt.Sprint(k))
		}
		return name, keys
	case "mget", "del", "exists", "unlink", "rename", "touch":
		for _, k := range args[1:] {
			keys = append(keys, fmt.Sprint(k))
		}
		return cmd.Name(), keys
	}
	return "", nil
}

// firstKey is the key of a command in a transaction: every command the adapters put in one has
// its key first, beyond those keysOf knows.
func (r *Recorder) firstKey(cmd redis.Cmder) []string {
	if _, keys := r.keysOf(cmd); keys != nil {
		return keys
	}
	if args := cmd.Args(); len(args) > 1 {
		return []string{fmt.Sprint(args[1])}
	}
	return nil
}

func (r *Recorder) record(cmd redis.Cmder) {
	if name, keys := r.keysOf(cmd); name != "" {
		r.add(name, keys)
	}
}

// DialHook passes through.
func (r *Recorder) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook records one command.
func (r *Recorder) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		r.record(cmd)
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook records a pipeline's commands one by one, a transaction's (MULTI ... EXEC)
// as one call.
func (r *Recorder) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 && cmds[0].Name() == "multi" {
			var keys []string
			for _, c := range cmds[1 : len(cmds)-1] {
				keys = append(keys, r.firstKey(c)...)
			}
			r.add(MultiName, keys)
		} else {
			for _, c := range cmds {
				r.record(c)
			}
		}
		return next(ctx, cmds)
	}
}
