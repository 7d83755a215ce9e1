package main

import (
	"fmt"

	"github.com/alicebob/miniredis/v2"
)

// startRedis embeds a Redis (miniredis) on a free port of 127.0.0.1 and returns its URL.
func (s *stack) startRedis() (string, error) {
	m := miniredis.NewMiniRedis()
	// miniredis counts TTLs down only when told to; the functions rely on them running with the
	// clock as on a real server (the once-a-second Ray check marker, retention of finished work).
	m.ClockTTL(true)
	if err := m.StartAddr("127.0.0.1:0"); err != nil {
		return "", fmt.Errorf("embedded redis: %w", err)
	}
	s.onStop("redis", m.Close)
	return "redis://" + m.Addr(), nil
}
