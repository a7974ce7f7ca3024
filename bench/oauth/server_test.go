package oauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// oauthServer is a small OAuth 2.0 / OpenID Connect server for the tests.
// It authenticates clients properly (Basic with RFC 6749 §2.3.1 decoding,
// private_key_jwt with aud and jti checks) and can be told to misbehave per
// endpoint.
type oauthServer struct {
	*httptest.Server
	t        *testing.T
	key      *ecdsa.PrivateKey // published in the JWKS as kid "k1"
	stranger *ecdsa.PrivateKey // not published
	clientID string
	secret   string
	clientPK crypto.PublicKey // the client's private_key_jwt key, when registered
	rotate   bool             // rotate refresh tokens

	mu       sync.Mutex
	modes    map[string]string // endpoint → misbehaviour
	jtis     map[string]bool
	refresh  map[string]bool // live refresh tokens
	requests map[string]int  // endpoint → requests served
}

func newOAuthServer(t *testing.T) *oauthServer {
	t.Helper()
	s := &oauthServer{t: t, clientID: "bench client", secret: "s3cr:et+/%ü", modes: map[string]string{},
		jtis: map[string]bool{}, refresh: map[string]bool{}, requests: map[string]int{}}
	s.key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	s.stranger, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", s.discovery)
	mux.HandleFunc("GET /jwks", s.jwks)
	mux.HandleFunc("POST /token", s.token)
	mux.HandleFunc("GET /userinfo", s.userinfo)
	mux.HandleFunc("POST /introspect", s.introspect)
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func (s *oauthServer) setMode(endpoint, mode string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.modes[endpoint] = mode
}

func (s *oauthServer) mode(endpoint string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[endpoint]++
	return s.modes[endpoint]
}

func (s *oauthServer) served(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[endpoint]
}

func (s *oauthServer) discovery(w http.ResponseWriter, r *http.Request) {
	issuer := s.URL
	if s.mode("discovery") == "other-issuer" {
		issuer = "https://elsewhere.example"
	}
	writeJSON(w, 200, map[string]any{"issuer": issuer, "token_endpoint": s.URL + "/token", "jwks_uri": s.URL + "/jwks",
		"userinfo_endpoint": s.URL + "/userinfo", "introspection_endpoint": s.URL + "/introspect"})
}

func (s *oauthServer) jwks(w http.ResponseWriter, r *http.Request) {
	s.mode("jwks")
	writeJSON(w, 200, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: s.key.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func oauthError(w http.ResponseWriter, status int, code string) {
	writeJSON(w, status, map[string]string{"error": code})
}

// authenticate checks client_secret_basic or private_key_jwt.
func (s *oauthServer) authenticate(r *http.Request) bool {
	if user, pass, ok := r.BasicAuth(); ok {
		id, err1 := url.QueryUnescape(user)
		secret, err2 := url.QueryUnescape(pass)
		return err1 == nil && err2 == nil && id == s.clientID && secret == s.secret
	}
	s.mu.Lock()
	clientPK := s.clientPK
	s.mu.Unlock()
	if r.PostForm.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" || clientPK == nil {
		return false
	}
	tok, err := jwt.ParseSigned(r.PostForm.Get("client_assertion"), []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil {
		return false
	}
	var c jwt.Claims
	if tok.Claims(clientPK, &c) != nil || c.Issuer != s.clientID || c.Subject != s.clientID || c.ID == "" ||
		c.Validate(jwt.Expected{AnyAudience: jwt.Audience{s.URL + "/token"}, Time: time.Now()}) != nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.jtis[c.ID] { // RFC 7523 §3: a jti is used once
		return false
	}
	s.jtis[c.ID] = true
	return true
}

// accessToken signs an RFC 9068 access token.
func (s *oauthServer) accessToken(key *ecdsa.PrivateKey, kid, clientID, sub string, exp time.Time) string {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		s.t.Error(err)
		return ""
	}
	var jti [8]byte
	rand.Read(jti[:])
	tok, err := jwt.Signed(signer).Claims(map[string]any{"iss": s.URL, "sub": sub, "client_id": clientID,
		"aud": "https://api.example", "exp": exp.Unix(), "iat": time.Now().Unix(), "jti": fmt.Sprintf("%x", jti)}).Serialize()
	if err != nil {
		s.t.Error(err)
	}
	return tok
}

func (s *oauthServer) newRefreshToken() string {
	var b [16]byte
	rand.Read(b[:])
	t := base64.RawURLEncoding.EncodeToString(b[:])
	s.mu.Lock()
	s.refresh[t] = true
	s.mu.Unlock()
	return t
}

func (s *oauthServer) token(w http.ResponseWriter, r *http.Request) {
	mode := s.mode("token")
	r.ParseForm()
	if !s.authenticate(r) {
		oauthError(w, 401, "invalid_client")
		return
	}
	resp := map[string]any{"token_type": "Bearer", "expires_in": 300}
	switch r.PostForm.Get("grant_type") {
	case "client_credentials":
		resp["token_type"] = "bearer" // case-insensitive (RFC 6749 §5.1)
	case "refresh_token":
		old := r.PostForm.Get("refresh_token")
		s.mu.Lock()
		live := s.refresh[old]
		rotate := s.rotate
		if live && rotate {
			delete(s.refresh, old)
		}
		s.mu.Unlock()
		if !live {
			oauthError(w, 400, "invalid_grant")
			return
		}
		if rotate {
			resp["refresh_token"] = s.newRefreshToken()
		}
	default:
		oauthError(w, 400, "unsupported_grant_type")
		return
	}
	exp := time.Now().Add(5 * time.Minute)
	resp["access_token"] = s.accessToken(s.key, "k1", s.clientID, s.clientID, exp)
	switch mode {
	case "status":
		oauthError(w, 500, "server_error")
		return
	case "not-json":
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<html>maintenance</html>"))
		return
	case "no-access-token":
		delete(resp, "access_token")
	case "token-type":
		resp["token_type"] = "N_A"
	case "no-expires-in":
		delete(resp, "expires_in")
	case "unknown-key":
		resp["access_token"] = s.accessToken(s.stranger, "k9", s.clientID, s.clientID, exp)
	case "wrong-key-same-kid":
		resp["access_token"] = s.accessToken(s.stranger, "k1", s.clientID, s.clientID, exp)
	case "expired":
		resp["access_token"] = s.accessToken(s.key, "k1", s.clientID, s.clientID, time.Now().Add(-time.Hour))
	case "other-client":
		resp["access_token"] = s.accessToken(s.key, "k1", "someone-else", s.clientID, exp)
	case "short-lived":
		resp["expires_in"] = 1
	case "opaque":
		resp["access_token"] = "opaque-" + s.newRefreshToken()
	}
	writeJSON(w, 200, resp)
}

// bearer returns the verified claims of the request's access token.
func (s *oauthServer) bearer(token string) (map[string]any, bool) {
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	var claims map[string]any
	if err != nil || tok.Claims(s.key.Public(), &claims) != nil {
		return nil, false
	}
	if exp, _ := claims["exp"].(float64); time.Unix(int64(exp), 0).Before(time.Now()) {
		return nil, false
	}
	return claims, true
}

func (s *oauthServer) userinfo(w http.ResponseWriter, r *http.Request) {
	mode := s.mode("userinfo")
	claims, ok := s.bearer(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	if !ok {
		oauthError(w, 401, "invalid_token")
		return
	}
	if claims["sub"] == s.clientID && mode != "allow-client-tokens" {
		oauthError(w, 403, "insufficient_scope") // like eidp: residents' tokens only
		return
	}
	switch mode {
	case "status":
		oauthError(w, 503, "temporarily_unavailable")
	case "not-json":
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("sub=someone"))
	case "no-sub":
		writeJSON(w, 200, map[string]any{"name": "Chan Tai Man"})
	case "signed":
		w.Header().Set("Content-Type", "application/jwt")
		w.Write([]byte(s.accessToken(s.key, "k1", s.clientID, claims["sub"].(string), time.Now().Add(time.Minute))))
	case "signed-unknown-key":
		w.Header().Set("Content-Type", "application/jwt")
		w.Write([]byte(s.accessToken(s.stranger, "k9", s.clientID, claims["sub"].(string), time.Now().Add(time.Minute))))
	default:
		writeJSON(w, 200, map[string]any{"sub": claims["sub"], "name": "Chan Tai Man"})
	}
}

func (s *oauthServer) introspect(w http.ResponseWriter, r *http.Request) {
	mode := s.mode("introspect")
	r.ParseForm()
	if !s.authenticate(r) {
		oauthError(w, 401, "invalid_client")
		return
	}
	claims, ok := s.bearer(r.PostForm.Get("token"))
	switch {
	case mode == "status":
		oauthError(w, 500, "server_error")
	case mode == "not-json":
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<p>active</p>"))
	case mode == "inactive" || !ok:
		writeJSON(w, 200, map[string]any{"active": false})
	case mode == "no-active":
		writeJSON(w, 200, map[string]any{"client_id": claims["client_id"]})
	case mode == "past-exp":
		writeJSON(w, 200, map[string]any{"active": true, "exp": time.Now().Add(-time.Hour).Unix()})
	default:
		writeJSON(w, 200, map[string]any{"active": true, "client_id": claims["client_id"], "exp": claims["exp"], "sub": claims["sub"]})
	}
}

// residentToken is an access token for a resident, as a login would give.
func (s *oauthServer) residentToken(sub string) string {
	return s.accessToken(s.key, "k1", s.clientID, sub, time.Now().Add(10*time.Minute))
}

// writeKey writes a new client key as PEM (PKCS#8 for EC, PKCS#1 for RSA)
// and registers its public half with the server.
func (s *oauthServer) writeKey(t *testing.T, kind string) string {
	t.Helper()
	var block *pem.Block
	s.mu.Lock()
	defer s.mu.Unlock()
	switch kind {
	case "ec":
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, _ := x509.MarshalPKCS8PrivateKey(k)
		block, s.clientPK = &pem.Block{Type: "PRIVATE KEY", Bytes: der}, k.Public()
	case "rsa":
		k, _ := rsa.GenerateKey(rand.Reader, 2048)
		block, s.clientPK = &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}, k.Public()
	}
	path := filepath.Join(t.TempDir(), "client-key.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func timeAgo() time.Time { return time.Now().Add(-time.Hour) }
