package config

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// The model servers' keys, each bound to its origin (docs/configuration.md, "Model-server keys"):
// VLLM_API_KEYS holds comma-separated origin=key pairs, the file VLLM_API_KEYS_FILE names holds
// one a line (a Secret mounted as a volume), VLLM_API_KEY is one key for exactly one allowed
// origin. The runner and the job read the same variables by the same rules from the Ray pods'
// environment (shared/rayjob/model_keys.py; contract/model_keys.json holds the cases both sides
// check), and a call there carries only the key of the origin it goes to. The functions call no
// model server: they read the keys so that a deployment whose keys do not fit VLLM_URL_ALLOWLIST
// ("*" with a key, the single key with several origins) fails at start. No message repeats a key.

// keySources are the three variables as read, combined with the allowlist once all are known.
type keySources struct {
	single     string
	pairs      map[string]string
	file       map[string]string
	filePath   string
	unreadable bool // a problem was reported already: nothing to combine
}

func parseSingleKey(c *Config, v string) string {
	if msg := parseToken(v, &c.keys.single); msg != "" {
		c.keys.unreadable = true
		return msg
	}
	return ""
}

func parseKeyPairs(c *Config, v string) string {
	pairs, msg := keyPairs(v, ",")
	if msg != "" {
		c.keys.unreadable = true
		return msg
	}
	c.keys.pairs = pairs
	return ""
}

func parseKeysFile(c *Config, v string) string {
	if v == "" {
		return ""
	}
	c.keys.unreadable = true
	data, err := os.ReadFile(v)
	if err != nil {
		return "cannot be read (" + errorKind(err) + ")"
	}
	pairs, msg := keyPairs(string(data), "\n")
	if msg != "" {
		return msg
	}
	c.keys.unreadable = false
	c.keys.file, c.keys.filePath = pairs, v
	return ""
}

func errorKind(err error) string {
	switch {
	case os.IsNotExist(err):
		return "no such file"
	case os.IsPermission(err):
		return "permission denied"
	}
	return "an I/O error"
}

// keyPairs reads origin=key pairs split on sep; blank entries and "#" lines are skipped.
func keyPairs(text, sep string) (map[string]string, string) {
	keys := map[string]string{}
	for i, raw := range strings.Split(text, sep) {
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		origin, key, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			return nil, fmt.Sprintf("entry %d is not origin=key", i+1)
		}
		if !onlyVisible(key) {
			return nil, fmt.Sprintf("entry %d: the key must be printable ASCII without spaces", i+1)
		}
		o, err := deliberation.ParseOrigin(strings.TrimSpace(origin), hostToASCII)
		if err != nil {
			return nil, fmt.Sprintf("entry %d: the origin %v", i+1, err)
		}
		if _, twice := keys[o.String()]; twice {
			return nil, "names " + o.String() + " twice"
		}
		keys[o.String()] = key
	}
	return keys, ""
}

// combineKeys binds the keys to origins once the allowlist is known, reporting what does not fit.
func combineKeys(c *Config, errs *Error) {
	if c.keys.unreadable {
		return
	}
	keys := c.keys.pairs
	for origin, key := range c.keys.file {
		if _, both := keys[origin]; both {
			errs.add("VLLM_API_KEYS_FILE", "VLLM_API_KEYS and VLLM_API_KEYS_FILE both name "+origin)
			return
		}
		if keys == nil {
			keys = map[string]string{}
		}
		keys[origin] = key
	}
	origins := c.Allowlist.Origins()
	star := len(origins) == 1 && origins[0] == deliberation.AnyOrigin
	if c.keys.single != "" {
		switch {
		case len(keys) > 0:
			errs.add("VLLM_API_KEY", "is set beside VLLM_API_KEYS/VLLM_API_KEYS_FILE: name its origin among the pairs instead")
			return
		case star || len(origins) != 1:
			n := fmt.Sprint(len(origins))
			if star {
				n = "*"
			}
			errs.add("VLLM_API_KEY", "is a shorthand for exactly one allowed origin; with "+n+
				" allowed, set VLLM_API_KEYS (origin=key pairs) instead")
			return
		}
		keys = map[string]string{origins[0]: c.keys.single}
	}
	if star && len(keys) > 0 {
		errs.add("VLLM_URL_ALLOWLIST", `"*" allows any model server, so a key would go to whichever server a caller names: list the origins instead of "*", or set no key`)
		return
	}
	c.ModelKeys = keys
}

// KeyOrigins lists the origins that have a key, sorted, for the start-up log: never the keys.
func (c Config) KeyOrigins() []string {
	origins := make([]string, 0, len(c.ModelKeys))
	for o := range c.ModelKeys {
		origins = append(origins, o)
	}
	slices.Sort(origins)
	return origins
}
