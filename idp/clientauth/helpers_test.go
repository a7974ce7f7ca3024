package clientauth_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"eidp/idp/client"
	"eidp/idp/clientauth"
	"eidp/internal/db"
	"eidp/internal/fetch"
	"eidp/internal/testenv"
)

const (
	issuer        = "https://id.city.example.gov"
	tokenEndpoint = issuer + "/oauth/token"
	parEndpoint   = issuer + "/oauth/par"
)

var start = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// signingKey is a client's private key with the JWS algorithm and kid it
// signs with.
type signingKey struct {
	priv crypto.Signer
	alg  jose.SignatureAlgorithm
	kid  string
}

func (k signingKey) public() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"}
}

// with is the same key signing with another algorithm or under another
// kid.
func (k signingKey) with(alg jose.SignatureAlgorithm, kid string) signingKey {
	return signingKey{priv: k.priv, alg: alg, kid: kid}
}

func ecKey(t *testing.T, kid string) signingKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signingKey{priv: priv, alg: jose.ES256, kid: kid}
}

func p521Key(t *testing.T, kid string) signingKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signingKey{priv: priv, alg: jose.ES512, kid: kid}
}

var (
	rsaOnce sync.Once
	rsaKeys [3]*rsa.PrivateKey
)

// rsaKey returns one of a few RSA 2048 keys, generated once per test run.
func rsaKey(t *testing.T, n int, alg jose.SignatureAlgorithm, kid string) signingKey {
	t.Helper()
	rsaOnce.Do(func() {
		for i := range rsaKeys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			rsaKeys[i] = k
		}
	})
	return signingKey{priv: rsaKeys[n], alg: alg, kid: kid}
}

func keySet(keys ...jose.JSONWebKey) []byte {
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	if err != nil {
		panic(err)
	}
	return b
}

// sign makes a compact JWS of claims with k; typ, when given, is the typ
// header.
func sign(t *testing.T, k signingKey, typ string, claims any) string {
	t.Helper()
	return signWith(t, jose.SigningKey{Algorithm: k.alg, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.kid}}, typ, claims)
}

func signWith(t *testing.T, key jose.SigningKey, typ string, claims any) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	signer, err := jose.NewSigner(key, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// unsigned is an alg "none" JWT (RFC 7519 §6).
func unsigned(t *testing.T, kid string, claims any) string {
	t.Helper()
	h, _ := json.Marshal(map[string]string{"alg": "none", "kid": kid})
	p, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p) + "."
}

// encrypted is a JWE of claims to key (RSA-OAEP-256), a nested form the
// endpoints refuse.
func encrypted(t *testing.T, to *rsa.PublicKey, claims any) string {
	t.Helper()
	enc, err := jose.NewEncrypter(jose.A128GCM, jose.Recipient{Algorithm: jose.RSA_OAEP_256, Key: to}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := json.Marshal(claims)
	obj, err := enc.Encrypt(p)
	if err != nil {
		t.Fatal(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// jwksServer serves a client's key set over TLS and counts requests.
type jwksServer struct {
	*httptest.Server
	hits atomic.Int64

	mu  sync.Mutex
	set []byte
}

func newJWKSServer(t *testing.T) *jwksServer {
	t.Helper()
	s := &jwksServer{set: keySet()}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		body := s.set
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

// serve replaces the published key set (the client rotates its keys).
func (s *jwksServer) serve(set []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set = set
}

// env is an Authenticator with a client store, a clock and a jwks_uri
// server.
type env struct {
	d     *db.DB
	store *client.Store
	auth  *clientauth.Authenticator
	clock *testenv.Clock
	jwks  *jwksServer
}

func newEnv(t *testing.T, d *db.DB) *env {
	t.Helper()
	e := &env{d: d, clock: testenv.NewClock(start), jwks: newJWKSServer(t)}
	e.store = client.NewStore(d, client.Options{})
	fetcher := fetch.New(fetch.Options{
		AllowPrivateNetworks: true, // the test server is on loopback
		TLSConfig:            e.jwks.Client().Transport.(*http.Transport).TLSClientConfig,
	})
	e.auth = clientauth.New(d, e.store, clientauth.Options{
		Issuer:    issuer,
		Audiences: []string{tokenEndpoint, parEndpoint},
		Fetcher:   fetcher,
		Now:       e.clock.Now,
	})
	return e
}

// create registers a client with a random ID and returns it with its
// secret (empty for clients without one).
func (e *env) create(t *testing.T, c client.Client) (client.Client, string) {
	t.Helper()
	if c.ClientName == "" {
		c.ClientName = "Test service"
	}
	if len(c.GrantTypes) == 0 {
		c.GrantTypes = []string{client.GrantClientCredentials}
	}
	c, secret, err := e.store.Create(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return c, secret
}

func (e *env) secretClient(t *testing.T, method string) (client.Client, string) {
	t.Helper()
	return e.create(t, client.Client{TokenEndpointAuthMethod: method})
}

func (e *env) publicClient(t *testing.T) client.Client {
	t.Helper()
	c, _ := e.create(t, client.Client{
		TokenEndpointAuthMethod: client.AuthNone,
		GrantTypes:              []string{client.GrantAuthorizationCode},
		RedirectURIs:            []string{"https://app.example.gov/callback"},
	})
	return c
}

// jwtClient registers a private_key_jwt client with keys as its jwks.
func (e *env) jwtClient(t *testing.T, alg string, keys ...jose.JSONWebKey) client.Client {
	t.Helper()
	c, _ := e.create(t, client.Client{
		TokenEndpointAuthMethod:     client.AuthPrivateKeyJWT,
		TokenEndpointAuthSigningAlg: alg,
		JWKS:                        keySet(keys...),
	})
	return c
}

// uriClient registers a private_key_jwt client whose keys are at the test
// server's jwks_uri.
func (e *env) uriClient(t *testing.T) client.Client {
	t.Helper()
	c, _ := e.create(t, client.Client{
		TokenEndpointAuthMethod: client.AuthPrivateKeyJWT,
		JWKSURI:                 e.jwks.URL + "/jwks.json",
	})
	return c
}

// assertionClaims are valid claims for a client assertion of id, with a
// fresh jti.
func (e *env) assertionClaims(id string) map[string]any {
	now := e.clock.Now()
	return map[string]any{
		"iss": id,
		"sub": id,
		"aud": issuer,
		"iat": now.Unix(),
		"exp": now.Add(2 * time.Minute).Unix(),
		"jti": rand.Text(),
	}
}

// assertion is a valid client assertion of c signed with k, changed by
// edit when given.
func (e *env) assertion(t *testing.T, c client.Client, k signingKey, edit func(map[string]any)) string {
	t.Helper()
	claims := e.assertionClaims(c.ClientID)
	if edit != nil {
		edit(claims)
	}
	return sign(t, k, "", claims)
}

func jwtCreds(id, assertion string) clientauth.Credentials {
	return clientauth.Credentials{ClientID: id, ClientAssertion: assertion, ClientAssertionType: clientauth.AssertionType}
}

// assertionsStored counts the recorded assertions with that jti.
func (e *env) assertionsStored(t *testing.T, jti string) int {
	t.Helper()
	var n int
	if err := e.d.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM oidc_client_assertions WHERE jti = $1`, jti).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// wantRefused fails unless err is a *clientauth.Error of kind whose
// description contains desc.
func wantRefused(t *testing.T, err error, kind error, desc string) {
	t.Helper()
	var e *clientauth.Error
	if !errors.As(err, &e) {
		t.Fatalf("got error %v, want a *clientauth.Error", err)
	}
	if !errors.Is(err, kind) {
		t.Fatalf("got %v, want it to wrap %v", err, kind)
	}
	if !strings.Contains(e.Description, desc) {
		t.Fatalf("description %q does not contain %q", e.Description, desc)
	}
}
