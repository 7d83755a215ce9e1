package config

import (
	"net/url"
	"strings"
)

// redact drops the user information of every URL in a comma-separated list.
func redact(v string) string {
	if v == "" {
		return ""
	}
	parts := strings.Split(v, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil {
			parts[i] = "(unparsable)"
			continue
		}
		if u.User != nil {
			u.User = url.User("REDACTED")
		}
		u.RawQuery = ""
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}
