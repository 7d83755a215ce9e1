package redisstore

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

//go:embed ratelimit.lua
var rateLua string

var rateScript = redis.NewScript(rateLua)

// rate is a caller's token bucket: in the shard of the caller's name, so one key in one slot.
func (k *keys) rate(caller string) string { return k.shard(shardOf(caller)) + ":rate:" + caller }

// TakeSubmit takes one execute from caller's token bucket (rate per second, burst at once), in one
// script: 0 when taken, else how long until the next token. Concurrent executes of one caller on
// any replica draw from the one bucket.
func (s *Store) TakeSubmit(ctx context.Context, caller string, rate float64, burst int) (time.Duration, error) {
	res, err := rateScript.Run(ctx, s.rdb, []string{s.keys.rate(caller)}, strconv.FormatFloat(rate, 'f', -1, 64), burst).Int64Slice()
	if err != nil {
		return 0, unavailable(err)
	}
	if len(res) != 2 {
		return 0, fmt.Errorf("rate script answered %v", res)
	}
	if res[0] == 1 {
		return 0, nil
	}
	return time.Duration(res[1]) * time.Millisecond, nil
}
