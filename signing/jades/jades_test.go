package jades_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"encoding/asn1"

	jose "github.com/go-jose/go-jose/v4"

	"eidp/internal/testenv"
	"eidp/signing/jades"
)

var payload = []byte(`{"form":"parking-permit","plate":"AB-123-CD","resident":"4711"}`)

// signedTime is a claimed signing time with sub-second precision, which
// sigT drops.
var signedTime = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.FixedZone("CET", 3600))

func sign(t *testing.T, k keyCase, ca *testCA, opts jades.SignOptions) ([]byte, *x509.Certificate) {
	t.Helper()
	cert := ca.issue(t, "Resident "+k.name, k.signer.Public())
	opts.Certificate = cert
	opts.Chain = []*x509.Certificate{ca.cert}
	if opts.SigningTime.IsZero() {
		opts.SigningTime = signedTime
	}
	if opts.Algorithm == "" {
		opts.Algorithm = k.options
	}
	jws, err := jades.Sign(context.Background(), k.signer, payload, opts)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return jws, cert
}

// decodeJSON reads the flattened serialization into a map for inspection
// and tampering.
func decodeJSON(t *testing.T, jws []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(jws, &m); err != nil {
		t.Fatalf("signature is not JSON: %v", err)
	}
	return m
}

func protectedHeader(t *testing.T, jws []byte) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(decodeJSON(t, jws)["protected"].(string))
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestSignAndVerify(t *testing.T) {
	ca := newTestCA(t)
	keys := append(inProcessKeys(t), backendKeys(t)...)
	for _, k := range keys {
		t.Run(k.name, func(t *testing.T) {
			jws, cert := sign(t, k, ca, jades.SignOptions{ContentType: "json"})

			h := protectedHeader(t, jws)
			thumb := sha256.Sum256(cert.Raw)
			want := map[string]any{
				"alg":      k.alg,
				"cty":      "json",
				"x5t#S256": base64.RawURLEncoding.EncodeToString(thumb[:]),
				"x5c":      []any{base64.StdEncoding.EncodeToString(cert.Raw), base64.StdEncoding.EncodeToString(ca.cert.Raw)},
				"sigT":     "2026-03-14T14:09:26Z",
				"crit":     []any{"sigT"},
			}
			if got, _ := json.Marshal(h); !bytes.Equal(got, mustJSON(t, want)) {
				t.Errorf("protected header\n got %s\nwant %s", got, mustJSON(t, want))
			}
			if m := decodeJSON(t, jws); m["header"] != nil {
				t.Errorf("a B-B signature has an unprotected header: %v", m["header"])
			}

			s, err := jades.Parse(jws, nil)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if err := s.Verify(); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !bytes.Equal(s.Payload, payload) || s.Detached {
				t.Errorf("payload = %q detached=%v", s.Payload, s.Detached)
			}
			if s.Algorithm != k.alg || s.ContentType != "json" || s.Level() != "B-B" || s.Timestamp != nil {
				t.Errorf("alg %s cty %s level %s", s.Algorithm, s.ContentType, s.Level())
			}
			if !s.Certificate.Equal(cert) || len(s.Chain) != 1 || !s.Chain[0].Equal(ca.cert) {
				t.Errorf("certificates not read back")
			}
			if !s.SigningTime.Equal(signedTime.Truncate(time.Second)) {
				t.Errorf("signing time %v, want %v", s.SigningTime, signedTime.Truncate(time.Second))
			}
			verifyWithOpenSSL(t, s)
		})
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// verifyWithOpenSSL checks the signature value over the JWS Signing Input
// with openssl dgst: an implementation that shares no code with ours.
func verifyWithOpenSSL(t *testing.T, s *jades.Signature) {
	t.Helper()
	openssl := testenv.Tool(t, "openssl", "openssl")
	dir := t.TempDir()
	pub, err := x509.MarshalPKIXPublicKey(s.Certificate.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "pub.pem"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))
	write(t, filepath.Join(dir, "input"), s.SigningInput())
	sig := s.Value
	args := []string{"dgst", "-" + map[string]string{"256": "sha256", "384": "sha384", "512": "sha512"}[s.Algorithm[2:]]}
	switch s.Algorithm[:2] {
	case "ES":
		// openssl wants DER; JWS has r||s.
		n := len(sig) / 2
		sig, err = asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])})
		if err != nil {
			t.Fatal(err)
		}
	case "PS":
		args = append(args, "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest")
	}
	write(t, filepath.Join(dir, "sig"), sig)
	args = append(args, "-verify", filepath.Join(dir, "pub.pem"), "-signature", filepath.Join(dir, "sig"), filepath.Join(dir, "input"))
	out, err := exec.Command(openssl, args...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Verified OK") {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// go-jose, an independent JOSE implementation, reads our JSON
// serialization. It refuses to verify because it understands no crit name
// but "b64" (as RFC 7515 §4.1.11 requires of it), so the signature value is
// checked by openssl above and go-jose checks the same signer's output on a
// header without crit in TestGoJoseVerifiesOurSignatures.
func TestGoJoseReadsOurSignatures(t *testing.T) {
	ca := newTestCA(t)
	for _, k := range inProcessKeys(t) {
		t.Run(k.name, func(t *testing.T) {
			jws, cert := sign(t, k, ca, jades.SignOptions{Timestamp: fakeTSA(t, nil)})
			obj, err := jose.ParseSignedJSON(string(jws), []jose.SignatureAlgorithm{jose.SignatureAlgorithm(k.alg)})
			if err != nil {
				t.Fatalf("go-jose ParseSignedJSON: %v", err)
			}
			if !bytes.Equal(obj.UnsafePayloadWithoutVerification(), payload) {
				t.Errorf("go-jose payload %q", obj.UnsafePayloadWithoutVerification())
			}
			h := obj.Signatures[0].Protected
			if h.Algorithm != k.alg {
				t.Errorf("go-jose sees alg %s", h.Algorithm)
			}
			roots := x509.NewCertPool()
			roots.AddCert(ca.cert)
			chains, err := h.Certificates(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
			if err != nil || len(chains) == 0 || !chains[0][0].Equal(cert) {
				t.Errorf("go-jose x5c chain: %v", err)
			}
			if h.ExtraHeaders["sigT"] != "2026-03-14T14:09:26Z" {
				t.Errorf("go-jose sees sigT %v", h.ExtraHeaders["sigT"])
			}
			if _, ok := obj.Signatures[0].Unprotected.ExtraHeaders["etsiU"]; !ok {
				t.Errorf("go-jose sees no etsiU in the unprotected header")
			}
			if _, err := obj.Verify(cert.PublicKey); err == nil || !strings.Contains(err.Error(), "crit") {
				t.Errorf("go-jose Verify = %v, want its refusal of an unknown crit name", err)
			}
		})
	}
}

// fakeTSA returns a Timestamp function that records what it was asked to
// stamp and returns a token-shaped byte string (jades does not read tokens;
// package verify tests real ones).
func fakeTSA(t *testing.T, asked *[]byte) func(context.Context, crypto.Hash, []byte) ([]byte, error) {
	return func(_ context.Context, h crypto.Hash, digest []byte) ([]byte, error) {
		if h != crypto.SHA256 || len(digest) != sha256.Size {
			t.Errorf("time-stamp requested with %v over %d bytes", h, len(digest))
		}
		if asked != nil {
			*asked = slices.Clone(digest)
		}
		return append([]byte{0x30, 0x03, 0x02, 0x01}, digest[0]), nil
	}
}

func TestBaselineT(t *testing.T) {
	ca := newTestCA(t)
	k := inProcessKeys(t)[0]
	var asked []byte
	jws, _ := sign(t, k, ca, jades.SignOptions{Timestamp: fakeTSA(t, &asked)})

	m := decodeJSON(t, jws)
	etsiU := m["header"].(map[string]any)["etsiU"].([]any)
	if len(etsiU) != 1 {
		t.Fatalf("etsiU has %d elements", len(etsiU))
	}
	element, err := base64.RawURLEncoding.DecodeString(etsiU[0].(string))
	if err != nil {
		t.Fatalf("etsiU element is not base64url: %v", err)
	}
	token := base64.StdEncoding.EncodeToString(append([]byte{0x30, 0x03, 0x02, 0x01}, asked[0]))
	if want := `{"sigTst":{"tstTokens":[{"val":"` + token + `"}]}}`; string(element) != want {
		t.Errorf("etsiU element %s, want %s", element, want)
	}
	// TS 119 182-1 §5.3.4: the imprint covers the base64url signature value.
	want := sha256.Sum256([]byte(m["signature"].(string)))
	if !bytes.Equal(asked, want[:]) {
		t.Errorf("time-stamp requested over %x, want SHA-256 of the base64url signature %x", asked, want)
	}

	s, err := jades.Parse(jws, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(); err != nil {
		t.Fatal(err)
	}
	if s.Level() != "B-T" || len(s.Timestamps) != 1 || base64.StdEncoding.EncodeToString(s.Timestamp) != token {
		t.Errorf("level %s, timestamp %x", s.Level(), s.Timestamp)
	}
	if got := sha256.Sum256(s.TimestampedData()); got != want {
		t.Errorf("TimestampedData hashes to %x, want %x", got, want)
	}
}

func TestDetached(t *testing.T) {
	ca := newTestCA(t)
	k := inProcessKeys(t)[0]
	jws, _ := sign(t, k, ca, jades.SignOptions{Detached: true})
	if _, ok := decodeJSON(t, jws)["payload"]; ok {
		t.Fatal("a detached signature carries its payload")
	}
	if _, err := jades.Parse(jws, nil); !errors.Is(err, jades.ErrNoPayload) {
		t.Errorf("Parse without the payload: %v, want ErrNoPayload", err)
	}
	s, err := jades.Parse(jws, payload)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(); err != nil || !s.Detached {
		t.Errorf("Verify = %v, detached %v", err, s.Detached)
	}
	s, err = jades.Parse(jws, []byte(`{"form":"something else"}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(); !errors.Is(err, jades.ErrSignature) {
		t.Errorf("Verify with another payload = %v, want ErrSignature", err)
	}
	attached, _ := sign(t, k, ca, jades.SignOptions{})
	if _, err := jades.Parse(attached, payload); !errors.Is(err, jades.ErrFormat) {
		t.Errorf("Parse of an attached signature with a detached payload = %v, want ErrFormat", err)
	}
}

// reencode builds a variant of jws: change edits the decoded protected
// header, the payload and the signature value.
func reencode(t *testing.T, jws []byte, change func(h map[string]any, payload, sig *[]byte)) []byte {
	t.Helper()
	m := decodeJSON(t, jws)
	h := protectedHeader(t, jws)
	p, _ := base64.RawURLEncoding.DecodeString(m["payload"].(string))
	sig, _ := base64.RawURLEncoding.DecodeString(m["signature"].(string))
	before := string(mustJSON(t, h))
	change(h, &p, &sig)
	if after := mustJSON(t, h); string(after) != before {
		// A changed header is re-encoded (in another member order, which
		// alone would break the signature).
		m["protected"] = base64.RawURLEncoding.EncodeToString(after)
	}
	m["payload"] = base64.RawURLEncoding.EncodeToString(p)
	m["signature"] = base64.RawURLEncoding.EncodeToString(sig)
	return mustJSON(t, m)
}

func TestTampering(t *testing.T) {
	ca := newTestCA(t)
	for _, k := range inProcessKeys(t)[:4] {
		jws, _ := sign(t, k, ca, jades.SignOptions{})
		other := ca.issue(t, "Someone Else", k.signer.Public())
		otherKey := inProcessKeys(t)[1].signer
		for _, tc := range []struct {
			name   string
			change func(h map[string]any, payload, sig *[]byte)
			want   error
		}{
			{"nothing changed verifies", func(map[string]any, *[]byte, *[]byte) {}, nil},
			{"a changed payload fails", func(_ map[string]any, p, _ *[]byte) { *p = bytes.Replace(*p, []byte("AB-123"), []byte("XY-999"), 1) }, jades.ErrSignature},
			{"a changed signing time fails", func(h map[string]any, _, _ *[]byte) { h["sigT"] = "2020-01-01T00:00:00Z" }, jades.ErrSignature},
			{"a flipped signature bit fails", func(_ map[string]any, _, s *[]byte) { (*s)[len(*s)/2] ^= 1 }, jades.ErrSignature},
			{"a truncated signature fails", func(_ map[string]any, _, s *[]byte) { *s = (*s)[:len(*s)-1] }, jades.ErrSignature},
			{"another certificate for the same key fails the reference", func(h map[string]any, _, _ *[]byte) {
				h["x5c"].([]any)[0] = base64.StdEncoding.EncodeToString(other.Raw)
			}, jades.ErrSigningCertificate},
			{"a certificate for another key fails", func(h map[string]any, _, _ *[]byte) {
				c := ca.issue(t, "Other key", otherKey.Public())
				sum := sha256.Sum256(c.Raw)
				h["x5c"].([]any)[0] = base64.StdEncoding.EncodeToString(c.Raw)
				h["x5t#S256"] = base64.RawURLEncoding.EncodeToString(sum[:])
			}, jades.ErrSignature},
			{"no certificate reference fails", func(h map[string]any, _, _ *[]byte) { delete(h, "x5t#S256") }, jades.ErrSigningCertificate},
			{"no x5c fails", func(h map[string]any, _, _ *[]byte) { delete(h, "x5c") }, jades.ErrSigningCertificate},
			{"an unknown critical parameter is refused", func(h map[string]any, _, _ *[]byte) {
				h["crit"] = []any{"sigT", "sigPId"}
				h["sigPId"] = map[string]any{}
			}, jades.ErrUnsupported},
			{"sigT outside crit is refused", func(h map[string]any, _, _ *[]byte) { delete(h, "crit") }, jades.ErrFormat},
			{"crit naming an absent parameter is refused", func(h map[string]any, _, _ *[]byte) {
				delete(h, "sigT")
			}, jades.ErrFormat},
			{"alg none is refused", func(h map[string]any, _, _ *[]byte) { h["alg"] = "none" }, jades.ErrUnsupported},
			{"an algorithm for another key type fails", func(h map[string]any, _, _ *[]byte) {
				if strings.HasPrefix(k.alg, "ES") {
					h["alg"] = "RS256"
				} else {
					h["alg"] = "ES256"
				}
			}, jades.ErrSignature},
		} {
			t.Run(k.name+": "+tc.name, func(t *testing.T) {
				s, err := jades.Parse(reencode(t, jws, tc.change), nil)
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if err := s.Verify(); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
					t.Errorf("Verify = %v, want %v", err, tc.want)
				}
			})
		}
	}
}

func TestParseRejects(t *testing.T) {
	ca := newTestCA(t)
	k := inProcessKeys(t)[0]
	jws, _ := sign(t, k, ca, jades.SignOptions{Timestamp: fakeTSA(t, nil)})
	m := decodeJSON(t, jws)
	variant := func(change func(m map[string]any)) []byte {
		c := decodeJSON(t, jws)
		change(c)
		return mustJSON(t, c)
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"empty input", nil, jades.ErrFormat},
		{"not JSON", []byte("{not json"), jades.ErrFormat},
		{"two dots but garbage", []byte("a.b.c"), jades.ErrFormat},
		{"no protected header", variant(func(m map[string]any) { delete(m, "protected") }), jades.ErrFormat},
		{"padded base64", variant(func(m map[string]any) { m["signature"] = m["signature"].(string) + "==" }), jades.ErrFormat},
		{"payload not a string", variant(func(m map[string]any) { m["payload"] = 5 }), jades.ErrFormat},
		{"a name both protected and unprotected", variant(func(m map[string]any) { m["header"].(map[string]any)["alg"] = "ES256" }), jades.ErrFormat},
		{"crit unprotected", variant(func(m map[string]any) { m["header"].(map[string]any)["crit"] = []string{"sigT"} }), jades.ErrFormat},
		{"etsiU not an array", variant(func(m map[string]any) { m["header"] = map[string]any{"etsiU": "x"} }), jades.ErrFormat},
		{"etsiU mixing forms", variant(func(m map[string]any) {
			h := m["header"].(map[string]any)
			h["etsiU"] = append(h["etsiU"].([]any), map[string]any{"sigTst": map[string]any{"tstTokens": []any{map[string]any{"val": "MAA="}}}})
		}), jades.ErrFormat},
		{"sigTst without tokens", variant(func(m map[string]any) {
			m["header"] = map[string]any{"etsiU": []any{map[string]any{"sigTst": map[string]any{}}}}
		}), jades.ErrFormat},
		{"two signatures", mustJSON(t, map[string]any{"payload": m["payload"], "signatures": []any{
			map[string]any{"protected": m["protected"], "signature": m["signature"]},
			map[string]any{"protected": m["protected"], "signature": m["signature"]},
		}}), jades.ErrUnsupported},
		{"general form with top-level protected too", mustJSON(t, map[string]any{"payload": m["payload"], "protected": m["protected"], "signatures": []any{
			map[string]any{"protected": m["protected"], "signature": m["signature"]},
		}}), jades.ErrFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := jades.Parse(tc.in, nil); !errors.Is(err, tc.want) {
				t.Errorf("Parse = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestOtherSerializations(t *testing.T) {
	ca := newTestCA(t)
	k := inProcessKeys(t)[0]
	jws, _ := sign(t, k, ca, jades.SignOptions{Timestamp: fakeTSA(t, nil)})
	m := decodeJSON(t, jws)
	general := mustJSON(t, map[string]any{"payload": m["payload"], "signatures": []any{
		map[string]any{"protected": m["protected"], "header": m["header"], "signature": m["signature"]},
	}})
	compact := []byte(m["protected"].(string) + "." + m["payload"].(string) + "." + m["signature"].(string))
	detachedCompact := []byte(m["protected"].(string) + ".." + m["signature"].(string))
	for name, tc := range map[string]struct {
		in, detached []byte
		level        string
	}{
		"general JSON":     {general, nil, "B-T"},
		"compact":          {compact, nil, "B-B"},
		"detached compact": {detachedCompact, payload, "B-B"},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := jades.Parse(tc.in, tc.detached)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Verify(); err != nil {
				t.Fatal(err)
			}
			if s.Level() != tc.level || !bytes.Equal(s.Payload, payload) {
				t.Errorf("level %s payload %q", s.Level(), s.Payload)
			}
		})
	}
}

func TestSignRejects(t *testing.T) {
	ca := newTestCA(t)
	keys := inProcessKeys(t)
	ec, rsaKey := keys[0].signer, keys[3].signer
	ecCert := ca.issue(t, "ec", ec.Public())
	ctx := context.Background()
	stampErr := errors.New("TSA down")
	for _, tc := range []struct {
		name   string
		signer crypto.Signer
		opts   jades.SignOptions
		want   error
	}{
		{"no signer", nil, jades.SignOptions{Certificate: ecCert}, jades.ErrOptions},
		{"no certificate", ec, jades.SignOptions{}, jades.ErrOptions},
		{"a certificate for another key", rsaKey, jades.SignOptions{Certificate: ecCert}, jades.ErrOptions},
		{"an RSA algorithm for an EC key", ec, jades.SignOptions{Certificate: ecCert, Algorithm: "PS256"}, jades.ErrOptions},
		{"an EC algorithm for an RSA key", rsaKey, jades.SignOptions{Certificate: ca.issue(t, "rsa", rsaKey.Public()), Algorithm: "ES256"}, jades.ErrOptions},
		{"a failing time-stamp authority", ec, jades.SignOptions{Certificate: ecCert, Timestamp: func(context.Context, crypto.Hash, []byte) ([]byte, error) {
			return nil, stampErr
		}}, stampErr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := jades.Sign(ctx, tc.signer, payload, tc.opts)
			if !errors.Is(err, tc.want) || out != nil {
				t.Errorf("Sign = %q, %v; want %v", out, err, tc.want)
			}
		})
	}
}
