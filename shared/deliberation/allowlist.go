package deliberation

import (
	"fmt"
	"net/url"
	"strings"
)

// Origin is a scheme, host and port that callers may name as their model server.
type Origin struct {
	Scheme, Host, Port string
}

// Allowlist holds the origins callers may name; empty allows any. Matching compares the parsed
// scheme, host and port, never string prefixes (`http://ok.example.evil.com` is not `http://ok.example`).
type Allowlist []Origin

// ParseOrigin parses one `scheme://host:port` entry; the port defaults to the scheme's.
func ParseOrigin(s string) (Origin, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return Origin{}, fmt.Errorf("%q is not a scheme://host:port origin", s)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return Origin{}, fmt.Errorf("%q must be only scheme://host:port", s)
	}
	return originOf(u), nil
}

func originOf(u *url.URL) Origin {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return Origin{Scheme: u.Scheme, Host: strings.ToLower(u.Hostname()), Port: port}
}

// Allows reports whether u may be called.
func (a Allowlist) Allows(u *url.URL) bool {
	if len(a) == 0 {
		return true
	}
	o := originOf(u)
	for _, e := range a {
		if e == o {
			return true
		}
	}
	return false
}
