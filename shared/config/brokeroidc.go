package config

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/rayexecutor/functions/shared/callers"
	"github.com/rayexecutor/functions/shared/callers/brokertoken"
)

// BrokerOIDC is how Knative Broker deliveries authenticate when Knative's OIDC is on: the Broker
// sends a service-account JWT of the Trigger's OIDC identity, for the subscriber's audience.
type BrokerOIDC struct {
	// Issuer is BROKER_OIDC_ISSUER, exactly as the tokens' iss claim spells it; empty: off.
	Issuer string
	// Audience is BROKER_OIDC_AUDIENCE, the audience set for this subscriber.
	Audience string
	// Subjects is BROKER_OIDC_SUBJECTS; empty: any subject of the issuer and audience.
	Subjects []string
	// CAFile is BROKER_OIDC_CA_FILE; roots are the certificates it holds (nil: the system's).
	CAFile string
	roots  *x509.CertPool
}

// parseIssuer reads BROKER_OIDC_ISSUER: an https URL, kept as given (go-oidc compares it with the
// discovery document's issuer and the tokens' iss byte for byte).
func parseIssuer(v string, dst *string) string {
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "https" || u.Hostname() == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "must be an https:// URL without user, query or fragment (the issuer of the service-account tokens, " +
			"e.g. https://kubernetes.default.svc.cluster.local), got " + quoted(v)
	}
	*dst = v
	return ""
}

// parseAudience reads BROKER_OIDC_AUDIENCE.
func parseAudience(v string, dst *string) string {
	if len(v) > 512 {
		return "must be at most 512 characters"
	}
	return parseToken(v, dst)
}

// parseSubjects reads BROKER_OIDC_SUBJECTS: comma-separated sub values.
func parseSubjects(v string, dst *[]string) string {
	if v == "" {
		return ""
	}
	var subjects []string
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		var one string
		if s == "" || parseToken(s, &one) != "" || len(s) > 512 {
			return "must be comma-separated subjects (e.g. system:serviceaccount:NAMESPACE:NAME), each printable " +
				"ASCII without spaces, got " + quoted(v)
		}
		subjects = append(subjects, one)
	}
	*dst = subjects
	return ""
}

// parseCAFile reads BROKER_OIDC_CA_FILE: a PEM bundle of at least one certificate.
func parseCAFile(v string, dst *BrokerOIDC) string {
	if v == "" {
		return ""
	}
	data, err := os.ReadFile(v)
	if err != nil {
		return "cannot be read: " + strings.TrimPrefix(err.Error(), "open ")
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return v + " holds no PEM certificate"
	}
	dst.CAFile, dst.roots = v, pool
	return ""
}

// checkBrokerOIDC reports what the Broker OIDC settings need of each other and of BROKER_CALLER.
func checkBrokerOIDC(c *Config, errs *Error) {
	o := c.Callers.OIDC
	if o.Issuer == "" {
		for _, s := range []struct {
			name string
			set  bool
		}{{"BROKER_OIDC_AUDIENCE", o.Audience != ""}, {"BROKER_OIDC_SUBJECTS", len(o.Subjects) > 0}, {"BROKER_OIDC_CA_FILE", o.CAFile != ""}} {
			if s.set && !errs.has(s.name) {
				errs.add(s.name, "is set but BROKER_OIDC_ISSUER is not: set the issuer too, or drop it")
			}
		}
		return
	}
	if o.Audience == "" && !errs.has("BROKER_OIDC_AUDIENCE") {
		errs.add("BROKER_OIDC_AUDIENCE", "is required with BROKER_OIDC_ISSUER: the audience the Trigger's subscriber is given")
	}
	if c.Callers.Broker == "" && !errs.has("BROKER_CALLER") {
		errs.add("BROKER_CALLER", "is required with BROKER_OIDC_ISSUER: the caller of CALLERS_FILE Broker deliveries act as")
	}
}

// verifier is the checker of the Broker's tokens, fetching discovery and keys over TLS with the
// CA bundle when one is given; nil when Broker OIDC is off.
func (o BrokerOIDC) verifier() callers.TokenVerifier {
	if o.Issuer == "" {
		return nil // a nil interface: no check, not a check that is nil
	}
	var client *http.Client
	if o.roots != nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = &tls.Config{RootCAs: o.roots, MinVersion: tls.VersionTLS12}
		client = &http.Client{Transport: t}
	}
	return brokertoken.New(o.Issuer, o.Audience, o.Subjects, client)
}
