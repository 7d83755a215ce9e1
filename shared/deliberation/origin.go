package deliberation

import (
	"errors"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// HostMapper maps a host name as written to its ASCII form: IDNA A-labels, lowercase. The domain
// holds no Unicode tables, so configuration supplies one (golang.org/x/net/idna's lookup rules);
// without one, only host names already in ASCII canonicalise.
type HostMapper func(host string) (string, error)

// Origin is a canonical scheme, host and port: the one form in which allowlist entries and
// vllm_url are compared, and the form the job calls. Host is lowercase ASCII without a trailing
// dot (IDNA A-labels), or an IP address as net/netip writes it; Port is always explicit.
type Origin struct {
	Scheme, Host, Port string
}

// String is the origin as the job's policy lists it: scheme://host:port.
func (o Origin) String() string { return o.Scheme + "://" + net.JoinHostPort(o.Host, o.Port) }

// ParseOrigin parses one allowlist entry, scheme://host[:port] with at most a "/" after it, into
// its canonical form. Its errors never repeat the entry, which an operator may have pasted with a
// password in it.
func ParseOrigin(s string, toASCII HostMapper) (Origin, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return Origin{}, errors.New("is not an http:// or https:// origin")
	}
	if (u.Path != "" && u.Path != "/") || u.User != nil || strings.ContainsAny(s, "?#") {
		return Origin{}, errors.New("must be only scheme://host[:port]")
	}
	return originOf(u, toASCII)
}

// canonicalURL checks that raw is scheme://host[:port][/base] and returns its canonical form: the
// canonical origin and the base path without a trailing "/" (the job appends its own path).
func canonicalURL(raw string, toASCII HostMapper) (string, Origin, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return "", Origin{}, errors.New("must be an absolute http or https URL")
	}
	// The job calls what it gets: user information would travel as credentials, and a query or
	// fragment would change what the appended path means.
	if u.User != nil || strings.ContainsAny(raw, "?#") {
		return "", Origin{}, errors.New("must be scheme://host[:port][/path], without user information, query or fragment")
	}
	o, err := originOf(u, toASCII)
	if err != nil {
		return "", Origin{}, err
	}
	return o.String() + strings.TrimRight(u.EscapedPath(), "/"), o, nil
}

func originOf(u *url.URL, toASCII HostMapper) (Origin, error) {
	host, err := canonicalHost(u.Hostname(), toASCII)
	if err != nil {
		return Origin{}, err
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return Origin{}, errors.New("port must be 1 to 65535")
	}
	return Origin{Scheme: u.Scheme, Host: host, Port: strconv.Itoa(n)}, nil
}

// canonicalHost is the one spelling of a host. Resolvers read more than dotted quads as IPv4
// (2852039166, 0xa9fea9fe, 0251.0376.0251.0376 all reach 169.254.169.254), so a host whose last
// label is a number must be a canonical dotted quad; an IPv4-mapped IPv6 address must be written
// as the IPv4 address it is.
func canonicalHost(host string, toASCII HostMapper) (string, error) {
	if strings.Contains(host, ":") { // an IPv6 literal: url.URL.Hostname drops the brackets
		a, err := netip.ParseAddr(host)
		switch {
		case err != nil || a.Zone() != "":
			return "", errors.New("host is not a valid IPv6 address")
		case a.Is4In6():
			return "", errors.New("host is an IPv4-mapped IPv6 address: write the IPv4 address")
		}
		return a.String(), nil
	}
	name := strings.TrimSuffix(host, ".")
	if !utf8.ValidString(name) {
		return "", errors.New("host is not a valid host name")
	}
	if toASCII != nil {
		mapped, err := toASCII(name)
		if err != nil {
			return "", errors.New("host is not a valid host name")
		}
		name = mapped
	}
	// Lowercase ASCII only: Unicode lowercasing turns "api.deepİnfra.com" into "api.deepinfra.com",
	// which IDNA encodes as "api.xn--deepinfra-9jf.com": an allowed name the job would not call.
	name = asciiLower(name)
	if !dnsName(name) {
		return "", errors.New("host is not a valid host name")
	}
	labels := strings.Split(name, ".")
	if numeric(labels[len(labels)-1]) {
		a, err := netip.ParseAddr(name)
		if err != nil || !a.Is4() {
			return "", errors.New("host must be a dotted-quad IPv4 address")
		}
		return a.String(), nil
	}
	return name, nil
}

// asciiLower lowercases the ASCII letters of s and leaves every other byte as it is.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// dnsName reports whether s is at most 253 characters of labels of 1-63 letters, digits and
// inner hyphens.
func dnsName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			if c := l[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// numeric reports whether a label reads as a number to an IPv4 parser: decimal digits, or 0x and
// hexadecimal digits.
func numeric(label string) bool {
	digits := "0123456789"
	if rest, ok := strings.CutPrefix(label, "0x"); ok {
		label, digits = rest, "0123456789abcdef"
		if label == "" {
			return true
		}
	}
	return label != "" && strings.Trim(label, digits) == ""
}
