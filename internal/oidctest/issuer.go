// Package oidctest serves an OpenID issuer for tests (kept apart from testenv, which imports
// shared/config, so config tests can use it).
package oidctest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Issuer is an OpenID issuer over HTTP(S) on 127.0.0.1, as a Kubernetes API server serves
// its service-account issuer: a discovery document and a JWKS of one RS256 key. It signs tokens
// the way the kubelet's projected tokens are (iss, sub, aud, iat, nbf, exp).
type Issuer struct {
	URL  string
	srv  *httptest.Server
	key  *rsa.PrivateKey
	down atomic.Bool
	// KeyFetches counts JWKS requests (go-oidc caches the keys).
	KeyFetches atomic.Int64
}

// Start serves an issuer over TLS (its certificate is CAPEM) or plain HTTP.
func Start(t testing.TB, useTLS bool) *Issuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	i := &Issuer{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		if i.unavailable(w) {
			return
		}
		writeJSONDoc(w, map[string]any{"issuer": i.URL, "jwks_uri": i.URL + "/openid/v1/jwks",
			"response_types_supported": []string{"id_token"}, "subject_types_supported": []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	mux.HandleFunc("/openid/v1/jwks", func(w http.ResponseWriter, _ *http.Request) {
		if i.unavailable(w) {
			return
		}
		i.KeyFetches.Add(1)
		writeJSONDoc(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	i.srv = httptest.NewUnstartedServer(mux)
	// A client that does not trust the certificate is a case the tests make on purpose.
	i.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if useTLS {
		i.srv.StartTLS()
	} else {
		i.srv.Start()
	}
	t.Cleanup(i.srv.Close)
	i.URL = i.srv.URL
	return i
}

// SetDown makes the issuer answer 503 to everything (true) or serve again (false).
func (i *Issuer) SetDown(down bool) { i.down.Store(down) }

func (i *Issuer) unavailable(w http.ResponseWriter) bool {
	if i.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}
	return i.down.Load()
}

// CAPEM is the PEM of the issuer's TLS certificate (self-signed), for a CA bundle.
func (i *Issuer) CAPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: i.srv.Certificate().Raw})
}

// Claims are the claims of a token; zero Expiry means in ten minutes.
type Claims struct {
	Issuer, Subject string
	Audience        []string
	Expiry          time.Time
}

// Token signs claims with the issuer's key (Issuer defaults to the issuer's URL).
func (i *Issuer) Token(t testing.TB, c Claims) string {
	t.Helper()
	return i.TokenSignedBy(t, i.key, c)
}

// TokenSignedBy signs claims with key under the issuer's key id: a forgery when key is another.
func (i *Issuer) TokenSignedBy(t testing.TB, key *rsa.PrivateKey, c Claims) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Issuer == "" {
		c.Issuer = i.URL
	}
	now := time.Now()
	if c.Expiry.IsZero() {
		c.Expiry = now.Add(10 * time.Minute)
	}
	claims := jwt.Claims{Issuer: c.Issuer, Subject: c.Subject, Audience: jwt.Audience(c.Audience),
		IssuedAt: jwt.NewNumericDate(now.Add(-time.Minute)), NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
		Expiry: jwt.NewNumericDate(c.Expiry)}
	raw, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func writeJSONDoc(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
