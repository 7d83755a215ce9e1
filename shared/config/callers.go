package config

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/rayexecutor/functions/shared/callers"
)

// Callers is who may call the functions beyond API_TOKEN (CALLERS_FILE), the quota every named
// caller gets unless its entry overrides it, and the caller Broker deliveries act as.
type Callers struct {
	// File is CALLERS_FILE as given (a path); Entries what it holds.
	File    string
	Entries []callers.Entry
	// Quota is CALLER_MAX_ACTIVE, CALLER_SUBMIT_RATE and CALLER_SUBMIT_BURST.
	Quota callers.Quota
	// Broker is BROKER_CALLER: Broker deliveries act as this caller (without OIDC, a CloudEvent
	// without an Authorization header; with OIDC, one whose token OIDC accepts).
	Broker string
	// OIDC is the check of the Broker's tokens (BROKER_OIDC_*).
	OIDC BrokerOIDC
	// IDSecret is ID_SECRET: the key of the HMAC that turns an idempotency key into a
	// deliberation id; empty, the functions generate one and keep it in Redis.
	IDSecret string
}

// Directory is the authentication of the functions: the named callers with their quotas, the
// operator of API_TOKEN, and the Broker's caller.
func (c Config) Directory() *callers.Directory {
	named := make([]callers.Caller, len(c.Callers.Entries))
	hashes := make([][32]byte, len(c.Callers.Entries))
	for i, e := range c.Callers.Entries {
		named[i], hashes[i] = e.Caller(c.Callers.Quota), e.Hash()
	}
	d := callers.NewDirectory(named, hashes, c.APIToken, c.Callers.Broker)
	d.BrokerOIDC = c.Callers.OIDC.verifier()
	return d
}

// parseCallersFile reads the callers file at path: problems name the file's place, never a hash.
func parseCallersFile(path string, dst *Callers) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "cannot be read: " + strings.TrimPrefix(err.Error(), "open ")
	}
	entries, problems := callers.Parse(data)
	if len(problems) > 0 {
		return strings.Join(problems, "; ")
	}
	dst.File, dst.Entries = path, entries
	return ""
}

// parseRate reads CALLER_SUBMIT_RATE: executes per second, 0 for no bound.
func parseRate(v string, dst *float64) string {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f > 1e6 || f != f {
		return "must be 0 (no bound) or a number of executes per second up to 1000000, got " + quoted(v)
	}
	*dst = f
	return ""
}

// parseIDSecret reads ID_SECRET: long enough that it cannot be guessed.
func parseIDSecret(v string, dst *string) string {
	if v == "" {
		return ""
	}
	if msg := parseToken(v, dst); msg != "" {
		return msg
	}
	if len(v) < 32 {
		*dst = ""
		return fmt.Sprintf("must be at least 32 characters, got %d", len(v))
	}
	return ""
}

// checkCallers reports what the caller settings need of each other: the Broker's caller must be a
// named caller.
func checkCallers(c *Config, errs *Error) {
	checkBrokerOIDC(c, errs)
	if c.Callers.Broker == "" {
		return
	}
	for _, e := range c.Callers.Entries {
		if e.Name == c.Callers.Broker {
			return
		}
	}
	errs.add("BROKER_CALLER", "names no caller of CALLERS_FILE")
}

// parseCallerName reads a caller's name as the callers file spells them.
func parseCallerName(v string, dst *string) string {
	if v == "" {
		return ""
	}
	for i := 0; i < len(v); i++ {
		ch := v[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '.' || ch == '_' || ch == '-') || len(v) > 64 {
			return "must be a caller name: 1-64 characters of [A-Za-z0-9._-]"
		}
	}
	*dst = v
	return ""
}
