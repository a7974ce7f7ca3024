package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"eidp/idp/client"
)

func writePEM(t *testing.T, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// thumbprint is the RFC 7638 §3 thumbprint, computed here from the required
// members in lexicographic order, independently of go-jose.
func thumbprint(t *testing.T, pub crypto.PublicKey) string {
	t.Helper()
	b64 := base64.RawURLEncoding.EncodeToString
	pad := func(n *big.Int, size int) string { return b64(n.FillBytes(make([]byte, size))) }
	var members string
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		size := (k.Curve.Params().BitSize + 7) / 8
		members = `{"crv":"` + k.Curve.Params().Name + `","kty":"EC","x":"` + pad(k.X, size) + `","y":"` + pad(k.Y, size) + `"}`
	case *rsa.PublicKey:
		members = `{"e":"` + b64(big.NewInt(int64(k.E)).Bytes()) + `","kty":"RSA","n":"` + b64(k.N.Bytes()) + `"}`
	case ed25519.PublicKey:
		members = `{"crv":"Ed25519","kty":"OKP","x":"` + b64(k) + `"}`
	default:
		t.Fatalf("no thumbprint for %T", pub)
	}
	sum := sha256.Sum256([]byte(members))
	return b64(sum[:])
}

func TestPrintJWKSGivesThePublicKeyToRegister(t *testing.T) {
	ec256 := must[*ecdsa.PrivateKey](t)(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	ec384 := must[*ecdsa.PrivateKey](t)(ecdsa.GenerateKey(elliptic.P384(), rand.Reader))
	rsaKey := must[*rsa.PrivateKey](t)(rsa.GenerateKey(rand.Reader, 2048))
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	pkcs8 := func(k any) []byte { return must[[]byte](t)(x509.MarshalPKCS8PrivateKey(k)) }
	for _, tc := range []struct {
		name, pemType string
		der           []byte
		key           crypto.Signer
		alg           string
	}{
		{"a P-256 key in PKCS#8", "PRIVATE KEY", pkcs8(ec256), ec256, "ES256"},
		{"a P-256 key in SEC 1", "EC PRIVATE KEY", must[[]byte](t)(x509.MarshalECPrivateKey(ec256)), ec256, "ES256"},
		{"a P-384 key", "PRIVATE KEY", pkcs8(ec384), ec384, "ES384"},
		{"an RSA key in PKCS#1", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey), rsaKey, "RS256"},
		{"an Ed25519 key", "PRIVATE KEY", pkcs8(edKey), edKey, "EdDSA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, stderr := runCommand(t, "-print-jwks", writePEM(t, tc.pemType, tc.der))
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			checkJWKS(t, []byte(out), tc.key, tc.alg)
		})
	}
}

// checkJWKS checks a printed set: one public signing key, the key's, with
// the thumbprint as kid, that eidp's client registration accepts.
func checkJWKS(t *testing.T, out []byte, key crypto.Signer, alg string) jose.JSONWebKey {
	t.Helper()
	var raw struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(out, &raw); err != nil || len(raw.Keys) != 1 {
		t.Fatalf("not a JWK Set with one key (%v):\n%s", err, out)
	}
	for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
		if _, ok := raw.Keys[0][private]; ok {
			t.Fatalf("the printed key has private member %q", private)
		}
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(out, &set); err != nil {
		t.Fatal(err)
	}
	k := set.Keys[0]
	pub, ok := k.Key.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(key.Public()) || !k.IsPublic() {
		t.Fatalf("the printed key (%T) is not the private key's public half", k.Key)
	}
	if k.KeyID != thumbprint(t, key.Public()) || k.Algorithm != alg || k.Use != "sig" {
		t.Fatalf("kid %q alg %q use %q, want the RFC 7638 thumbprint, %s, sig", k.KeyID, k.Algorithm, k.Use, alg)
	}
	c := client.Client{ClientID: "cc-jwt", ClientName: "loadbench private_key_jwt", GrantTypes: []string{client.GrantClientCredentials},
		TokenEndpointAuthMethod: client.AuthPrivateKeyJWT, JWKS: json.RawMessage(strings.TrimSpace(string(out)))}
	if err := c.WithDefaults().Validate(client.Options{}); err != nil {
		t.Fatalf("eidp refuses the set as a client's jwks: %v", err)
	}
	return k
}

// The key the benchmark script makes: openssl genpkey, P-256, PKCS#8.
func TestPrintJWKSReadsAnOpenSSLKey(t *testing.T) {
	path := opensslKey(t)
	code, out, stderr := runCommand(t, "-print-jwks", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	key := must[any](t)(x509.ParsePKCS8PrivateKey(block.Bytes))
	checkJWKS(t, []byte(out), key.(crypto.Signer), "ES256")
}

func opensslKey(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl is required (apt-get install openssl)")
	}
	path := filepath.Join(t.TempDir(), "key.pem")
	if out, err := exec.Command("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path).CombinedOutput(); err != nil {
		t.Fatalf("openssl genpkey: %v\n%s", err, out)
	}
	return path
}

// End to end: a server that knows the client only by the printed set
// accepts every assertion the client-credentials-jwt scenario signs with
// -key and -key-id (the kid is how the server picks the key).
func TestAClientRegisteredWithThePrintedSetAuthenticates(t *testing.T) {
	path := opensslKey(t)
	code, out, stderr := runCommand(t, "-print-jwks", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(out), &set); err != nil {
		t.Fatal(err)
	}
	kid := set.Keys[0].KeyID
	var accepted, refused atomic.Int64
	var srv *httptest.Server
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"issuer": srv.URL, "token_endpoint": srv.URL + "/token"})
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		var claims jwt.Claims
		tok, err := jwt.ParseSigned(r.PostFormValue("client_assertion"), []jose.SignatureAlgorithm{jose.ES256})
		ok := err == nil && r.PostFormValue("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" &&
			len(tok.Headers) == 1 && len(set.Key(tok.Headers[0].KeyID)) == 1
		if ok {
			ok = tok.Claims(set.Key(tok.Headers[0].KeyID)[0].Key, &claims) == nil &&
				claims.Issuer == "cc-jwt" && claims.Subject == "cc-jwt" && claims.Audience.Contains(srv.URL+"/token")
		}
		if !ok {
			refused.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":"invalid_client"}`))
			return
		}
		accepted.Add(1)
		w.Write([]byte(`{"access_token":"opaque","token_type":"Bearer","expires_in":60}`))
	})
	srv = httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	args := []string{"-scenario", "client-credentials-jwt", "-issuer", srv.URL, "-client-id", "cc-jwt", "-key", path,
		"-workers", "2", "-warmup", "0", "-duration", "0", "-max", "20"}
	code, table, stderr := runCommand(t, append(args, "-key-id", kid)...)
	if code != 0 || accepted.Load() != 20 || refused.Load() != 0 {
		t.Fatalf("exit %d, %d accepted, %d refused\n%s%s", code, accepted.Load(), refused.Load(), table, stderr)
	}
	// The check can fail: another key's kid names no registered key.
	code, _, _ = runCommand(t, append(args, "-key-id", "not-"+kid)...)
	if code != 1 || refused.Load() != 20 {
		t.Fatalf("a wrong kid: exit %d, %d refused", code, refused.Load())
	}
}

func TestPrintJWKSRefusesWhatIsNotAUsablePrivateKey(t *testing.T) {
	ec := must[*ecdsa.PrivateKey](t)(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	small := must[*rsa.PrivateKey](t)(rsa.GenerateKey(rand.Reader, 1024))
	notPEM := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(notPEM, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		path, want string
	}{
		"a missing file":    {filepath.Join(t.TempDir(), "none.pem"), "no such file"},
		"no PEM":            {notPEM, "holds no PEM block"},
		"a public key":      {writePEM(t, "PUBLIC KEY", must[[]byte](t)(x509.MarshalPKIXPublicKey(ec.Public()))), `"PUBLIC KEY" is not a private key`},
		"a broken key":      {writePEM(t, "EC PRIVATE KEY", []byte{0x30, 0x03, 0x02, 0x01, 0x01}), "failed to parse EC private key"},
		"a 1024-bit RSA":    {writePEM(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(small)), "under 2048 bits"},
		"a PKCS#8 RSA-1024": {writePEM(t, "PRIVATE KEY", must[[]byte](t)(x509.MarshalPKCS8PrivateKey(small))), "under 2048 bits"},
	} {
		t.Run(name, func(t *testing.T) {
			code, out, stderr := runCommand(t, "-print-jwks", tc.path)
			if code != 1 || out != "" || !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, "-print-jwks") {
				t.Fatalf("exit %d, stdout %q, stderr %q (want %q)", code, out, stderr, tc.want)
			}
		})
	}
	for name, args := range map[string][]string{
		"with a scenario": {"-print-jwks", opensslKey(t), "-scenario", "client-credentials"},
		"with -list":      {"-print-jwks", opensslKey(t), "-list"},
	} {
		if code, out, stderr := runCommand(t, args...); code != 2 || out != "" || stderr == "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", name, code, out, stderr)
		}
	}
}
