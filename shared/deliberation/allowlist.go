package deliberation

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// AnyOrigin is the allowlist entry that allows any model server but the special hosts.
const AnyOrigin = "*"

// maxAllowlist bounds the allowlist: the job receives it with every request, within MaxJobPayload.
const maxAllowlist = 64

// Allowlist is VLLM_URL_ALLOWLIST: the model servers callers may name in vllm_url. Its zero value
// allows none, so a deployment that sets nothing calls nothing. Matching compares canonical origins,
// never string prefixes (`http://ok.example.evil.com` is not `http://ok.example`).
type Allowlist struct {
	any     bool
	origins []Origin
	toASCII HostMapper
}

// ParseAllowlist reads the allowlist's entries: either the one entry "*", or origins
// scheme://host[:port]. toASCII maps Unicode host names, for the entries and for every vllm_url
// checked against the list. Problems name entries by position and never repeat them.
func ParseAllowlist(entries []string, toASCII HostMapper) (Allowlist, error) {
	if len(entries) == 1 && strings.TrimSpace(entries[0]) == AnyOrigin {
		return AllowAny(toASCII), nil
	}
	a := Allowlist{toASCII: toASCII}
	var problems []string
	if len(entries) > maxAllowlist {
		problems = append(problems, fmt.Sprintf("has %d entries, at most %d", len(entries), maxAllowlist))
	}
	for i, e := range entries {
		switch strings.TrimSpace(e) {
		case "":
			problems = append(problems, fmt.Sprintf("entry %d is empty", i+1))
			continue
		case AnyOrigin:
			// The job's policy is either "*" or a list of origins: there is no mixing them.
			problems = append(problems, fmt.Sprintf("entry %d: * must be the only entry", i+1))
			continue
		}
		o, err := ParseOrigin(e, toASCII)
		if err != nil {
			problems = append(problems, fmt.Sprintf("entry %d: %v", i+1, err))
			continue
		}
		a.origins = append(a.origins, o)
	}
	if len(problems) > 0 {
		return Allowlist{}, errors.New(strings.Join(problems, "; "))
	}
	return a, nil
}

// AllowAny is the allowlist "*".
func AllowAny(toASCII HostMapper) Allowlist { return Allowlist{any: true, toASCII: toASCII} }

// Origins lists the allowlist as the job's policy carries it: ["*"], or the canonical origins
// (empty, never nil, when none is allowed).
func (a Allowlist) Origins() []string {
	if a.any {
		return []string{AnyOrigin}
	}
	out := make([]string, len(a.origins))
	for i, o := range a.origins {
		out[i] = o.String()
	}
	return out
}

// check returns the canonical form of vllm_url when callers may name it, else the problem.
func (a Allowlist) check(raw string) (string, string) {
	canonical, o, err := canonicalURL(raw, a.toASCII)
	switch {
	case err != nil:
		return "", "vllm_url " + err.Error()
	case a.any && special(o.Host):
		return "", "vllm_url is not allowed: link-local and cloud metadata addresses need an entry of their own in VLLM_URL_ALLOWLIST"
	case a.any:
		return canonical, ""
	case len(a.origins) == 0:
		return "", "vllm_url is not allowed: VLLM_URL_ALLOWLIST is empty, so no model server is"
	}
	for _, e := range a.origins {
		if e == o {
			return canonical, ""
		}
	}
	return "", "vllm_url is not allowed"
}

// specialNames and specialAddrs are the cloud metadata services, the classic SSRF targets beside
// link-local addresses: "*" does not reach them.
var (
	specialNames = map[string]bool{"metadata.google.internal": true, "metadata": true}
	specialAddrs = []netip.Addr{
		netip.MustParseAddr("169.254.169.254"), // AWS, Azure, GCP, OCI, ... (link-local anyway)
		netip.MustParseAddr("fd00:ec2::254"),   // AWS over IPv6
		netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud
	}
	// nat64 embeds IPv4 addresses in IPv6 ones (RFC 6052): 64:ff9b::a9fe:a9fe is 169.254.169.254
	// on a network that translates it.
	nat64 = netip.MustParsePrefix("64:ff9b::/96")
)

// special reports whether a canonical host is link-local or a cloud metadata service.
func special(host string) bool {
	if specialNames[host] {
		return true
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	if nat64.Contains(a) {
		b := a.As16()
		a = netip.AddrFrom4([4]byte(b[12:]))
	}
	for _, s := range specialAddrs {
		if a == s {
			return true
		}
	}
	return a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast()
}
