package testenv

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/shared/config"
)

// ShapeClient is the client the functions would build for a REDIS_MODE and its URL
// (config.NewRedisClient), closed with the test.
func ShapeClient(t *testing.T, mode, url string) redis.UniversalClient {
	t.Helper()
	rdb, err := config.NewRedisClient(mode, url, config.RedisTimeouts{Dial: 2 * time.Second, Read: 2 * time.Second, Write: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	return rdb
}
