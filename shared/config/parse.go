package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// The parsers below never echo a value that may hold a secret (URLs carry passwords, tokens are
// tokens): configuration errors end up in logs.

const (
	minBodyBytes = 1 << 10
	maxBodyBytes = 64 << 20
)

func trimmed(s string) string { return strings.TrimSpace(s) }

// quoted shows a rejected value, shortened so a pasted blob does not flood the log.
func quoted(v string) string {
	return strconv.Quote(deliberation.Shorten(v, 64))
}

// parseRedisURL checks a Redis URL against the REDIS_MODE already read (redis.go).
func parseRedisURL(mode, v string, dst *string) string {
	if v == "" {
		return ""
	}
	if msg := redisURLProblem(mode, v); msg != "" {
		return msg
	}
	*dst = v
	return ""
}

func parseHTTPURL(v string, dst *string) string {
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return "must be an http:// or https:// URL"
	}
	*dst = strings.TrimRight(v, "/")
	return ""
}

// parseOTLPProtocol accepts the OTLP protocols the Go SDK exports with (it has no http/json).
func parseOTLPProtocol(v string, dst *string) string {
	switch v {
	case "http/protobuf", "grpc":
		*dst = v
		return ""
	}
	return "must be http/protobuf or grpc, got " + quoted(v)
}

func parseNATSURL(v string, dst *string) string {
	if v == "" {
		return ""
	}
	for _, s := range strings.Split(v, ",") {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil || u.Hostname() == "" {
			return "must be a comma-separated list of nats://, tls://, ws:// or wss:// URLs"
		}
		switch u.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return "must be a comma-separated list of nats://, tls://, ws:// or wss:// URLs"
		}
	}
	*dst = v
	return ""
}

// parseToken accepts what can travel in an Authorization header unchanged.
func parseToken(v string, dst *string) string {
	for i := 0; i < len(v); i++ {
		if v[i] <= ' ' || v[i] > '~' {
			return "must be printable ASCII without spaces"
		}
	}
	*dst = v
	return ""
}

func parseEntrypoint(v string, dst *string) string {
	for _, r := range v {
		if r < ' ' || r == 0x7f {
			return "must not contain control characters"
		}
	}
	*dst = v
	return ""
}

func parseNumCPUs(v string, dst *float64) string {
	if v == "" {
		return ""
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return "must be a non-negative number, got " + quoted(v)
	}
	*dst = f
	return ""
}

func parseResources(v string, dst *map[string]float64) string {
	if v == "" {
		return ""
	}
	var m map[string]float64
	bad := "must be a JSON object of resource names to non-negative numbers, got " + quoted(v)
	if err := json.Unmarshal([]byte(v), &m); err != nil || m == nil {
		return bad
	}
	for name, q := range m {
		if strings.TrimSpace(name) == "" || q < 0 {
			return bad
		}
	}
	*dst = m
	return ""
}

func parseDuration(v string, dst *time.Duration) string {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return "must be a positive duration such as 30s, 15m or 168h, got " + quoted(v)
	}
	*dst = d
	return ""
}

// maxRunnerReplicas bounds the runner's replicas: each is a Python process of about 125 MiB.
const maxRunnerReplicas = 1000

// parseMinReplicas is the runner's minimum: 0 would let Serve scale the runner to zero, from where
// nothing would start it again (its replicas report the queue; none is left to report).
func parseMinReplicas(v string, dst *int) string {
	if n, err := strconv.Atoi(v); err == nil && n == 0 {
		return "must be at least 1: Serve cannot start the runner's first replica on the queue alone (docs/ray.md, Replicas follow the queue)"
	}
	return parsePositive(v, maxRunnerReplicas, dst)
}

// parseDelay is a duration that may be zero (act at once).
func parseDelay(v string, dst *time.Duration) string {
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return "must be a duration of zero or more such as 0s, 2s or 1m, got " + quoted(v)
	}
	*dst = d
	return ""
}

func parsePositive(v string, limit int, dst *int) string {
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return "must be a positive integer, got " + quoted(v)
	}
	if n > limit {
		return fmt.Sprintf("must be at most %d, got %s", limit, quoted(v))
	}
	*dst = n
	return ""
}

// parseBound is parsePositive for a limit that 0 turns off.
func parseBound(v string, limit int, dst *int) string {
	if n, err := strconv.Atoi(v); err == nil && n == 0 {
		*dst = 0
		return ""
	}
	if msg := parsePositive(v, limit, dst); msg != "" {
		return "must be 0 (no bound) or a positive integer, got " + quoted(v)
	}
	return ""
}

func parseBodyBytes(v string, dst *int64) string {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < minBodyBytes || n > maxBodyBytes {
		return fmt.Sprintf("must be an integer number of bytes between %d and %d, got %s", minBodyBytes, maxBodyBytes, quoted(v))
	}
	*dst = n
	return ""
}

// parseKeyPrefix keeps the prefix to identifier characters: it is part of every Redis key.
func parseKeyPrefix(v string, dst *string) string {
	if len(v) > 64 || !onlyChars(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-") {
		return "must be 1-64 characters of letters, digits, '.', '_', ':' or '-', got " + quoted(v)
	}
	*dst = v
	return ""
}

// parseSubjectPrefix accepts a NATS subject of literal tokens: a wildcard or an empty token would
// make every published subject invalid.
func parseSubjectPrefix(v string, dst *string) string {
	for _, tok := range strings.Split(v, ".") {
		if tok == "" || tok == "*" || tok == ">" || !onlyVisible(tok) || strings.ContainsAny(tok, "*>") {
			return "must be a NATS subject of literal tokens (no wildcards, no empty tokens), got " + quoted(v)
		}
	}
	*dst = v
	return ""
}

func parseStreamName(v string, dst *string) string {
	if len(v) > 64 || !onlyChars(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") {
		return "must be 1-64 letters, digits, '_' or '-', got " + quoted(v)
	}
	*dst = v
	return ""
}

// parseAllowlist reads VLLM_URL_ALLOWLIST. Empty allows no model server; empty entries are
// errors, not skipped, so a value of "," does not quietly become that.
func parseAllowlist(v string, dst *deliberation.Allowlist) string {
	if v == "" {
		*dst = deliberation.Allowlist{}
		return ""
	}
	list, err := deliberation.ParseAllowlist(strings.Split(v, ","), hostToASCII)
	if err != nil {
		return err.Error()
	}
	*dst = list
	return ""
}

func parseLogLevel(v string, dst *slog.Level) string {
	switch strings.ToLower(v) {
	case "debug":
		*dst = slog.LevelDebug
	case "info":
		*dst = slog.LevelInfo
	case "warn", "warning":
		*dst = slog.LevelWarn
	case "error":
		*dst = slog.LevelError
	default:
		return "must be debug, info, warn or error, got " + quoted(v)
	}
	return ""
}

func parseDispatch(v string, dst *string) string {
	switch d := strings.ToLower(v); d {
	case DispatchServe, DispatchJobs:
		*dst = d
		return ""
	}
	return "must be serve or jobs, got " + quoted(v)
}

// parseOptionalBool keeps "true", "false" or "" (not given), so the caller can tell a default
// from an explicit value.
func parseOptionalBool(v string, dst *string) string {
	if v == "" {
		return ""
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return "must be true or false, got " + quoted(v)
	}
	*dst = strconv.FormatBool(b)
	return ""
}

func parseLogFormat(v string, dst *string) string {
	switch f := strings.ToLower(v); f {
	case "json", "text":
		*dst = f
		return ""
	}
	return "must be json or text, got " + quoted(v)
}

func onlyChars(s, allowed string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(allowed, s[i]) < 0 {
			return false
		}
	}
	return true
}

func onlyVisible(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
