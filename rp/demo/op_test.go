package demo_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// fakeOP is a minimal OpenID Provider for testing the demo client: discovery,
// JWKS, an authorization endpoint that approves at once, a token endpoint
// with client_secret_basic and PKCE S256, and userinfo. It is test
// scaffolding, not product code.
type fakeOP struct {
	t        *testing.T
	srv      *httptest.Server
	signer   jose.Signer
	jwks     jose.JSONWebKeySet
	clientID string
	secret   string
	subject  string

	mu sync.Mutex
	// knobs
	down          bool   // discovery answers 503
	issParam      bool   // advertise and send RFC 9207 iss
	nonceOverride string // sign ID tokens with this nonce instead
	userinfoSub   string // answer userinfo with this sub instead
	tokenError    string // token endpoint answers this OAuth error
	// records
	codes       map[string]authRequest
	tokens      map[string]string // access token → scope
	exchanges   int
	lastIDToken string
	lastAuth    url.Values
}

type authRequest struct {
	redirectURI, challenge, nonce, scope string
}

const testKID = "test-key-1"

func newFakeOP(t *testing.T) *fakeOP {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", testKID))
	if err != nil {
		t.Fatal(err)
	}
	op := &fakeOP{
		t:        t,
		signer:   signer,
		jwks:     jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: testKID, Algorithm: "ES256", Use: "sig"}}},
		clientID: "demo-client",
		secret:   "demo-secret-value",
		subject:  "pairwise-7f3a9c",
		issParam: true,
		codes:    map[string]authRequest{},
		tokens:   map[string]string{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", op.discovery)
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, op.jwks) })
	mux.HandleFunc("GET /authorize", op.authorize)
	mux.HandleFunc("POST /token", op.token)
	mux.HandleFunc("GET /userinfo", op.userinfo)
	op.srv = httptest.NewServer(mux)
	t.Cleanup(op.srv.Close)
	return op
}

func (op *fakeOP) issuer() string { return op.srv.URL }

func (op *fakeOP) set(f func(op *fakeOP)) {
	op.mu.Lock()
	defer op.mu.Unlock()
	f(op)
}

func (op *fakeOP) discovery(w http.ResponseWriter, r *http.Request) {
	op.mu.Lock()
	defer op.mu.Unlock()
	if op.down {
		http.Error(w, "starting", http.StatusServiceUnavailable)
		return
	}
	iss := op.issuer()
	writeJSON(w, 200, map[string]any{
		"issuer":                                         iss,
		"authorization_endpoint":                         iss + "/authorize",
		"token_endpoint":                                 iss + "/token",
		"userinfo_endpoint":                              iss + "/userinfo",
		"jwks_uri":                                       iss + "/jwks",
		"end_session_endpoint":                           iss + "/end_session",
		"response_types_supported":                       []string{"code"},
		"subject_types_supported":                        []string{"pairwise"},
		"id_token_signing_alg_values_supported":          []string{"ES256"},
		"code_challenge_methods_supported":               []string{"S256"},
		"token_endpoint_auth_methods_supported":          []string{"client_secret_basic"},
		"authorization_response_iss_parameter_supported": op.issParam,
	})
}

func (op *fakeOP) authorize(w http.ResponseWriter, r *http.Request) {
	op.mu.Lock()
	defer op.mu.Unlock()
	q := r.URL.Query()
	op.lastAuth = q
	if q.Get("client_id") != op.clientID || q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" {
		http.Error(w, "bad authorization request", http.StatusBadRequest)
		return
	}
	code := rand.Text()
	op.codes[code] = authRequest{redirectURI: q.Get("redirect_uri"), challenge: q.Get("code_challenge"), nonce: q.Get("nonce"), scope: q.Get("scope")}
	back, err := url.Parse(q.Get("redirect_uri"))
	if err != nil {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	v := url.Values{"code": {code}, "state": {q.Get("state")}}
	if op.issParam {
		v.Set("iss", op.issuer())
	}
	back.RawQuery = v.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (op *fakeOP) token(w http.ResponseWriter, r *http.Request) {
	op.mu.Lock()
	defer op.mu.Unlock()
	op.exchanges++
	id, secret, ok := r.BasicAuth()
	if !ok || id != op.clientID || secret != op.secret {
		writeJSON(w, 401, map[string]string{"error": "invalid_client"})
		return
	}
	if op.tokenError != "" {
		writeJSON(w, 400, map[string]string{"error": op.tokenError})
		return
	}
	req, found := op.codes[r.PostFormValue("code")]
	delete(op.codes, r.PostFormValue("code"))
	verifier := r.PostFormValue("code_verifier")
	sum := sha256.Sum256([]byte(verifier))
	if r.PostFormValue("grant_type") != "authorization_code" || !found ||
		r.PostFormValue("redirect_uri") != req.redirectURI ||
		base64.RawURLEncoding.EncodeToString(sum[:]) != req.challenge {
		writeJSON(w, 400, map[string]string{"error": "invalid_grant"})
		return
	}
	access := rand.Text()
	op.tokens[access] = req.scope
	atHash := sha256.Sum256([]byte(access))
	nonce := req.nonce
	if op.nonceOverride != "" {
		nonce = op.nonceOverride
	}
	now := time.Now()
	claims, _ := json.Marshal(map[string]any{
		"iss":       op.issuer(),
		"sub":       op.subject,
		"aud":       op.clientID,
		"exp":       now.Add(5 * time.Minute).Unix(),
		"iat":       now.Unix(),
		"auth_time": now.Add(-time.Second).Unix(),
		"nonce":     nonce,
		"at_hash":   base64.RawURLEncoding.EncodeToString(atHash[:16]),
		"acr":       "urn:eidp:acr:passkey",
		"amr":       []string{"hwk", "user"},
	})
	jws, err := op.signer.Sign(claims)
	if err != nil {
		op.t.Error(err)
		return
	}
	idToken, _ := jws.CompactSerialize()
	op.lastIDToken = idToken
	writeJSON(w, 200, map[string]any{
		"access_token": access,
		"token_type":   "Bearer",
		"expires_in":   300,
		"id_token":     idToken,
		"scope":        req.scope,
	})
}

func (op *fakeOP) userinfo(w http.ResponseWriter, r *http.Request) {
	op.mu.Lock()
	defer op.mu.Unlock()
	scope, ok := op.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	sub := op.subject
	if op.userinfoSub != "" {
		sub = op.userinfoSub
	}
	out := map[string]any{"sub": sub, "name": "Chan Tai Man"}
	if strings.Contains(" "+scope+" ", " eidp:idcard ") {
		out["eidp_id_number"] = "A123456(3)"
	}
	writeJSON(w, 200, out)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
