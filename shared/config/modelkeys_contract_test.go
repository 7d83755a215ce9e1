package config

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestModelKeysContract checks every case of shared/rayjob/contract/model_keys.json (how the
// keys are read and bound to origins, which the runner and the job check alike in
// test_model_keys.py) through Load: the keys it binds, or a refusal that names no key.
func TestModelKeysContract(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join("..", "rayjob", "contract", "model_keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Cases []struct {
			Name    string
			Env     map[string]string
			Allowed json.RawMessage
			Keys    map[string]string
			Refused string
		}
	}
	if err := json.Unmarshal(data, &doc); err != nil || len(doc.Cases) == 0 {
		t.Fatalf("model_keys.json: %d cases, %v", len(doc.Cases), err)
	}
	for _, c := range doc.Cases {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			vars := map[string]string{"REDIS_URL": "redis://127.0.0.1:6379"}
			var allowed []string
			if err := json.Unmarshal(c.Allowed, &allowed); err != nil {
				allowed = []string{"*"}
			}
			vars["VLLM_URL_ALLOWLIST"] = strings.Join(allowed, ",")
			for name, value := range c.Env {
				if name == "file" {
					path := filepath.Join(t.TempDir(), "keys")
					if err := os.WriteFile(path, []byte(value), 0o600); err != nil {
						t.Fatal(err)
					}
					name, value = "VLLM_API_KEYS_FILE", path
				}
				vars[name] = value
			}
			cfg, err := Load(env(vars), Options{})
			if c.Refused != "" {
				if err == nil || !strings.Contains(err.Error(), c.Refused) {
					t.Fatalf("want refused with %q, got %v", c.Refused, err)
				}
				for _, secret := range []string{"sk-a", "sk-b", "sk-one", "sk-other", "sk-secret-only", "sk a"} {
					if strings.Contains(err.Error(), secret) {
						t.Fatalf("the error repeats a key: %v", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := c.Keys; !maps.Equal(cfg.ModelKeys, want) && (len(want) > 0 || len(cfg.ModelKeys) > 0) {
				t.Fatalf("keys %v, want %v", cfg.KeyOrigins(), want)
			}
		})
	}
}
