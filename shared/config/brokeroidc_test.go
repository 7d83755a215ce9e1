package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rayexecutor/functions/internal/oidctest"
	"github.com/rayexecutor/functions/shared/callers"
)

func brokerEnv(t *testing.T, extra map[string]string) map[string]string {
	t.Helper()
	m := map[string]string{"REDIS_URL": "redis://127.0.0.1:6379", "BROKER_CALLER": "broker",
		"CALLERS_FILE": writeCallers(t, `{"callers": [{"name": "broker", "token_sha256": "`+hashOf("tok-broker")+`", "role": "caller"}]}`)}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// TestBrokerOIDCOverTLS: the settings make a Directory whose Broker check fetches the issuer's
// discovery and keys over TLS trusting BROKER_OIDC_CA_FILE, and accepts a listed subject's token as
// BROKER_CALLER; without the CA file the issuer cannot be reached (not a rejected token).
func TestBrokerOIDCOverTLS(t *testing.T) {
	t.Parallel()
	issuer := oidctest.Start(t, true)
	ca := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(ca, issuer.CAPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	const sub = "system:serviceaccount:ray-executor:oidc-trigger"
	subjects := " other:sa , " + sub
	c, err := Load(env(brokerEnv(t, map[string]string{"BROKER_OIDC_CA_FILE": ca, "BROKER_OIDC_ISSUER": issuer.URL,
		"BROKER_OIDC_AUDIENCE": "executor", "BROKER_OIDC_SUBJECTS": subjects})), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Callers.OIDC.Subjects; len(got) != 2 || got[1] != sub {
		t.Errorf("subjects %q", got)
	}
	tok := issuer.Token(t, oidctest.Claims{Subject: sub, Audience: []string{"executor"}})
	who, subject, err := c.Directory().BrokerByOIDC(t.Context(), tok)
	if err != nil || who.Name != "broker" || subject != sub {
		t.Fatalf("the Broker's token: %+v %q %v", who, subject, err)
	}
	c.Callers.OIDC.roots = nil
	if _, _, err := c.Directory().BrokerByOIDC(t.Context(), tok); !errors.Is(err, callers.ErrIssuerUnavailable) {
		t.Errorf("without the CA bundle: %v, want the issuer unavailable", err)
	}
}

// TestBrokerOIDCProblems: every Broker OIDC setting problem is named at start.
func TestBrokerOIDCProblems(t *testing.T) {
	t.Parallel()
	notPEM := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		env  map[string]string
		want []string
	}{
		"http issuer": {map[string]string{"BROKER_OIDC_ISSUER": "http://kubernetes.default.svc", "BROKER_OIDC_AUDIENCE": "a"},
			[]string{"BROKER_OIDC_ISSUER: must be an https:// URL"}},
		"issuer with a query": {map[string]string{"BROKER_OIDC_ISSUER": "https://k8s?x=1", "BROKER_OIDC_AUDIENCE": "a"},
			[]string{"BROKER_OIDC_ISSUER: must be an https:// URL"}},
		"no audience": {map[string]string{"BROKER_OIDC_ISSUER": "https://kubernetes.default.svc"},
			[]string{"BROKER_OIDC_AUDIENCE: is required with BROKER_OIDC_ISSUER"}},
		"no broker caller": {map[string]string{"BROKER_OIDC_ISSUER": "https://kubernetes.default.svc", "BROKER_OIDC_AUDIENCE": "a", "BROKER_CALLER": ""},
			[]string{"BROKER_CALLER: is required with BROKER_OIDC_ISSUER"}},
		"settings without the issuer": {map[string]string{"BROKER_OIDC_AUDIENCE": "a", "BROKER_OIDC_SUBJECTS": "s", "BROKER_OIDC_CA_FILE": notPEM},
			[]string{"BROKER_OIDC_AUDIENCE: is set but BROKER_OIDC_ISSUER is not", "BROKER_OIDC_SUBJECTS: is set but", "BROKER_OIDC_CA_FILE: " + notPEM + " holds no PEM"}},
		"empty subject": {map[string]string{"BROKER_OIDC_ISSUER": "https://k8s", "BROKER_OIDC_AUDIENCE": "a", "BROKER_OIDC_SUBJECTS": "a,,b"},
			[]string{"BROKER_OIDC_SUBJECTS: must be comma-separated subjects"}},
		"CA file missing": {map[string]string{"BROKER_OIDC_ISSUER": "https://k8s", "BROKER_OIDC_AUDIENCE": "a", "BROKER_OIDC_CA_FILE": "/nonexistent/ca.crt"},
			[]string{"BROKER_OIDC_CA_FILE: cannot be read"}},
		"audience with a space": {map[string]string{"BROKER_OIDC_ISSUER": "https://k8s", "BROKER_OIDC_AUDIENCE": "a b"},
			[]string{"BROKER_OIDC_AUDIENCE: must be printable ASCII"}},
	}
	for name, tc := range cases {
		_, err := Load(env(brokerEnv(t, tc.env)), Options{})
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		for _, want := range tc.want {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %q lacks %q", name, err, want)
			}
		}
	}
}
