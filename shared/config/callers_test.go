package config

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rayexecutor/functions/shared/callers"
)

func hashOf(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func writeCallers(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "callers.json")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCallersFile: the file's callers authenticate by their tokens with their roles, the defaults
// and their own overrides as quota; API_TOKEN stays an operator; the Broker's caller is one of them.
func TestCallersFile(t *testing.T) {
	t.Parallel()
	path := writeCallers(t, `{"callers": [
		{"name": "alice", "token_sha256": "`+hashOf("tok-alice")+`", "role": "caller", "max_active": 3},
		{"name": "ops", "token_sha256": "`+hashOf("tok-ops")+`", "role": "operator", "submit_rate": 0.5, "submit_burst": 2},
		{"name": "broker", "token_sha256": "`+hashOf("tok-broker")+`", "role": "caller"}]}`)
	c, err := Load(env(map[string]string{"REDIS_URL": "redis://127.0.0.1:6379", "CALLERS_FILE": path,
		"BROKER_CALLER": "broker", "API_TOKEN": "op-token", "CALLER_MAX_ACTIVE": "7"}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := c.Directory()
	alice, ok := dir.ByToken("tok-alice")
	if !ok || alice.Name != "alice" || alice.SeesAll() || alice.Quota.MaxActive != 3 || alice.Quota.SubmitRate != 2 || !alice.Limited {
		t.Errorf("alice = %+v, %v", alice, ok)
	}
	ops, _ := dir.ByToken("tok-ops")
	if !ops.SeesAll() || ops.Quota.MaxActive != 7 || ops.Quota.SubmitRate != 0.5 || ops.Quota.SubmitBurst != 2 {
		t.Errorf("ops = %+v", ops)
	}
	if op, ok := dir.ByToken("op-token"); !ok || op.Name != callers.TokenOperator || !op.SeesAll() || op.Limited {
		t.Errorf("API_TOKEN = %+v, %v", op, ok)
	}
	if _, ok := dir.ByToken(hashOf("tok-alice")); ok {
		t.Error("the hash itself authenticated")
	}
	if b, ok := dir.ByName(dir.Broker); !ok || b.Name != "broker" {
		t.Errorf("broker = %+v", b)
	}
}

// TestCallersFileProblems: every problem of the file at once, never the hash; a Broker's caller
// the file does not name is refused.
func TestCallersFileProblems(t *testing.T) {
	t.Parallel()
	h := hashOf("x")
	path := writeCallers(t, `{"callers": [
		{"name": "a b", "token_sha256": "`+h+`", "role": "caller"},
		{"name": "anonymous", "token_sha256": "zz", "role": "admin"},
		{"name": "c", "token_sha256": "`+h+`", "role": "caller", "max_active": -1}]}`)
	_, err := Load(env(map[string]string{"REDIS_URL": "redis://127.0.0.1:6379", "CALLERS_FILE": path, "BROKER_CALLER": "nobody"}), Options{})
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	for _, want := range []string{"callers[0].name must be", "callers[1].name anonymous is reserved", "callers[1].token_sha256 must be 64 hex",
		"callers[1].role must be", "callers[2].token_sha256 is another caller's", "callers[2].max_active", "BROKER_CALLER"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, h) {
		t.Error("a hash was echoed")
	}
	good := writeCallers(t, `{"callers": [{"name": "a", "token_sha256": "`+h+`", "role": "caller"}]}`)
	_, err = Load(env(map[string]string{"REDIS_URL": "redis://127.0.0.1:6379", "CALLERS_FILE": good, "BROKER_CALLER": "b"}), Options{})
	if err == nil || !strings.Contains(err.Error(), "BROKER_CALLER: names no caller") {
		t.Errorf("broker caller of no entry: %v", err)
	}
}
