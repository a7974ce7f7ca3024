package hsm_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"eidp/hsm"
	"eidp/hsm/soft"
)

// openSoft opens a soft backend in a temporary directory.
func openSoft(t *testing.T) *soft.Soft {
	t.Helper()
	master := make([]byte, 32)
	rand.Read(master)
	s, err := soft.Open(t.Context(), soft.Options{Dir: t.TempDir(), MasterKey: master})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newSigner(t *testing.T, km hsm.KeyManager, alg hsm.Algorithm) hsm.Signer {
	t.Helper()
	info, err := km.CreateKey(t.Context(), "jose-"+string(alg), alg)
	if err != nil {
		t.Fatal(err)
	}
	sg, err := km.Signer(t.Context(), info.URI)
	if err != nil {
		t.Fatal(err)
	}
	return sg
}

type claims struct {
	jwt.Claims
	Nonce string `json:"nonce"`
}

func TestOpaqueSignerSignsJWTsThatGoJOSEVerifies(t *testing.T) {
	km := openSoft(t)
	signers := map[hsm.Algorithm]hsm.Signer{}
	for _, alg := range []hsm.Algorithm{hsm.ECP256, hsm.ECP384, hsm.RSA2048, hsm.Ed25519} {
		signers[alg] = newSigner(t, km, alg)
	}
	tests := []struct {
		jws jose.SignatureAlgorithm
		key hsm.Algorithm
	}{
		{jose.ES256, hsm.ECP256},
		{jose.ES384, hsm.ECP384},
		{jose.RS256, hsm.RSA2048},
		{jose.RS512, hsm.RSA2048},
		{jose.PS256, hsm.RSA2048},
		{jose.PS384, hsm.RSA2048},
		{jose.EdDSA, hsm.Ed25519},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s with an %s key", tc.jws, tc.key), func(t *testing.T) {
			opaque, err := hsm.OpaqueSigner(signers[tc.key])
			if err != nil {
				t.Fatalf("OpaqueSigner: %v", err)
			}
			pub := opaque.Public()
			if pub.Use != "sig" || !pub.IsPublic() {
				t.Errorf("Public(): use %q, public %v; want a public \"sig\" key", pub.Use, pub.IsPublic())
			}
			if want := thumbprint(t, signers[tc.key].Public()); pub.KeyID != want {
				t.Errorf("KeyID %q, want the RFC 7638 thumbprint %q", pub.KeyID, want)
			}

			signer, err := jose.NewSigner(jose.SigningKey{Algorithm: tc.jws, Key: opaque}, (&jose.SignerOptions{}).WithType("JWT"))
			if err != nil {
				t.Fatalf("jose.NewSigner: %v", err)
			}
			want := claims{
				Claims: jwt.Claims{Issuer: "https://eidp.example", Subject: "resident-4711", Expiry: jwt.NewNumericDate(time.Now().Add(time.Minute))},
				Nonce:  "n-0S6_WzA2Mj",
			}
			token, err := jwt.Signed(signer).Claims(want).Serialize()
			if err != nil {
				t.Fatalf("sign JWT: %v", err)
			}

			parsed, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{tc.jws})
			if err != nil {
				t.Fatalf("jwt.ParseSigned: %v", err)
			}
			if kid := parsed.Headers[0].KeyID; kid != pub.KeyID {
				t.Errorf("kid header %q, want %q", kid, pub.KeyID)
			}
			// Verify with the JWK as an RP gets it: JSON from a JWKS.
			var got claims
			if err := parsed.Claims(jwkFromJSON(t, pub), &got); err != nil {
				t.Fatalf("verify JWT with the published JWK: %v", err)
			}
			if got.Subject != want.Subject || got.Nonce != want.Nonce {
				t.Errorf("claims %+v, want %+v", got, want)
			}

			// The same signature over another payload must not verify.
			parts := strings.Split(token, ".")
			other := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"mallory"}`)) + "." + parts[2]
			jws, err := jose.ParseSigned(other, []jose.SignatureAlgorithm{tc.jws})
			if err != nil {
				t.Fatalf("jose.ParseSigned: %v", err)
			}
			if _, err := jws.Verify(pub); err == nil {
				t.Error("a signature verified for a payload it was not made for")
			}
		})
	}
}

// jwkFromJSON round-trips a JWK through JSON and checks no private part
// travels with it.
func jwkFromJSON(t *testing.T, k *jose.JSONWebKey) *jose.JSONWebKey {
	t.Helper()
	data, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(data, &fields); err != nil {
		t.Fatal(err)
	}
	for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
		if _, ok := fields[private]; ok {
			t.Errorf("the JWK carries the private member %q", private)
		}
	}
	var back jose.JSONWebKey
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatalf("parse JWK %s: %v", data, err)
	}
	return &back
}

func TestOpaqueSignerECDSASignaturesAreRawRS(t *testing.T) {
	km := openSoft(t)
	for _, tc := range []struct {
		jws  jose.SignatureAlgorithm
		key  hsm.Algorithm
		size int
		hash func([]byte) []byte
	}{
		{jose.ES256, hsm.ECP256, 32, func(b []byte) []byte { h := sha256.Sum256(b); return h[:] }},
		{jose.ES384, hsm.ECP384, 48, func(b []byte) []byte { h := sha512.Sum384(b); return h[:] }},
	} {
		t.Run(string(tc.jws), func(t *testing.T) {
			sg := newSigner(t, km, tc.key)
			opaque, err := hsm.OpaqueSigner(sg)
			if err != nil {
				t.Fatal(err)
			}
			signer, err := jose.NewSigner(jose.SigningKey{Algorithm: tc.jws, Key: opaque}, nil)
			if err != nil {
				t.Fatal(err)
			}
			// Many signatures, so that short r or s values (about one in
			// 256) are met and must be left-padded.
			for i := range 64 {
				obj, err := signer.Sign(fmt.Appendf(nil, "payload %d", i))
				if err != nil {
					t.Fatal(err)
				}
				compact, err := obj.CompactSerialize()
				if err != nil {
					t.Fatal(err)
				}
				parts := strings.Split(compact, ".")
				sig, err := base64.RawURLEncoding.DecodeString(parts[2])
				if err != nil {
					t.Fatal(err)
				}
				// RFC 7518 §3.4: R and S, each exactly the curve's size.
				if len(sig) != 2*tc.size {
					t.Fatalf("signature is %d bytes, want %d (r || s)", len(sig), 2*tc.size)
				}
				r := new(big.Int).SetBytes(sig[:tc.size])
				s := new(big.Int).SetBytes(sig[tc.size:])
				if !ecdsa.Verify(sg.Public().(*ecdsa.PublicKey), tc.hash([]byte(parts[0]+"."+parts[1])), r, s) {
					t.Fatalf("signature %d does not verify as raw r || s with crypto/ecdsa", i)
				}
			}
		})
	}
}

func TestOpaqueSignerRefusesAlgorithmsTheKeyCannotUse(t *testing.T) {
	km := openSoft(t)
	opaque, err := hsm.OpaqueSigner(newSigner(t, km, hsm.ECP256))
	if err != nil {
		t.Fatal(err)
	}
	if algs := opaque.Algs(); len(algs) != 1 || algs[0] != jose.ES256 {
		t.Errorf("Algs() = %v for a P-256 key, want [ES256]", algs)
	}
	for _, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES384, jose.EdDSA, jose.HS256} {
		if _, err := opaque.SignPayload([]byte("x"), alg); !errors.Is(err, hsm.ErrUnsupportedAlgorithm) {
			t.Errorf("SignPayload(%s) with a P-256 key: %v; want ErrUnsupportedAlgorithm", alg, err)
		}
		if _, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: opaque}, nil); err == nil {
			t.Errorf("jose.NewSigner accepted %s for a P-256 key", alg)
		}
	}
	rsaOpaque, err := hsm.OpaqueSigner(newSigner(t, km, hsm.RSA2048))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rsaOpaque.SignPayload([]byte("x"), jose.ES256); !errors.Is(err, hsm.ErrUnsupportedAlgorithm) {
		t.Errorf("SignPayload(ES256) with an RSA key: %v; want ErrUnsupportedAlgorithm", err)
	}
}

func TestOpaqueSignerWithKeyID(t *testing.T) {
	km := openSoft(t)
	sg := newSigner(t, km, hsm.ECP256)
	opaque, err := hsm.OpaqueSignerWithKeyID(sg, "oidc-signing-2026-11")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: opaque}, nil)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := signer.Sign([]byte("payload"))
	if err != nil {
		t.Fatal(err)
	}
	compact, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jose.ParseSigned(compact, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	if kid := parsed.Signatures[0].Protected.KeyID; kid != "oidc-signing-2026-11" {
		t.Errorf("kid %q, want the chosen key ID", kid)
	}
	if _, err := hsm.OpaqueSignerWithKeyID(sg, ""); err == nil {
		t.Error("OpaqueSignerWithKeyID accepted an empty key ID")
	}
}

// fixedSigner is an hsm.Signer with a given public key that returns a given
// signature (or an error if it has none): tests that need a key from an RFC
// or a signature of a chosen shape use it.
type fixedSigner struct {
	pub crypto.PublicKey
	sig []byte
}

func (f fixedSigner) Public() crypto.PublicKey { return f.pub }
func (f fixedSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	if f.sig == nil {
		return nil, errors.New("fixedSigner has no signature")
	}
	return f.sig, nil
}
func (f fixedSigner) SignContext(_ context.Context, d []byte, o crypto.SignerOpts) ([]byte, error) {
	return f.Sign(nil, d, o)
}
func (f fixedSigner) Algorithm() hsm.Algorithm { return "" }
func (f fixedSigner) URI() string              { return "test:fixed" }

func TestOpaqueSignerConvertsDERSignatures(t *testing.T) {
	km := openSoft(t)
	pub := newSigner(t, km, hsm.ECP256).Public()
	// derSig encodes SEQUENCE { INTEGER r, INTEGER s } from the contents
	// octets of the two INTEGERs (X.690 §8.3).
	derSig := func(r, s []byte) []byte {
		body := append(append([]byte{0x02, byte(len(r))}, r...), append([]byte{0x02, byte(len(s))}, s...)...)
		return append([]byte{0x30, byte(len(body))}, body...)
	}
	full := make([]byte, 32)
	for i := range full {
		full[i] = 0xee
	}
	padded := append([]byte{0x00}, full...) // positive INTEGER with the top bit set

	t.Run("left-pads short r and s to the curve size", func(t *testing.T) {
		opaque, err := hsm.OpaqueSigner(fixedSigner{pub: pub, sig: derSig([]byte{0x01}, []byte{0x02, 0x03})})
		if err != nil {
			t.Fatal(err)
		}
		got, err := opaque.SignPayload([]byte("x"), jose.ES256)
		if err != nil {
			t.Fatal(err)
		}
		want := make([]byte, 64)
		want[31], want[62], want[63] = 0x01, 0x02, 0x03
		if string(got) != string(want) {
			t.Errorf("got %x, want %x", got, want)
		}
	})
	t.Run("drops the sign octet of full-size values", func(t *testing.T) {
		opaque, err := hsm.OpaqueSigner(fixedSigner{pub: pub, sig: derSig(padded, padded)})
		if err != nil {
			t.Fatal(err)
		}
		got, err := opaque.SignPayload([]byte("x"), jose.ES256)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(append(append([]byte{}, full...), full...)) {
			t.Errorf("got %x, want r || s of 32 bytes each", got)
		}
	})
	bad := []struct {
		name string
		sig  []byte
	}{
		{"trailing bytes", append(derSig([]byte{1}, []byte{2}), 0)},
		{"a negative r", derSig([]byte{0xff}, []byte{2})},
		{"a zero s", derSig([]byte{1}, []byte{0})},
		{"an r longer than the curve", derSig(append([]byte{0x01}, full...), []byte{2})},
		{"no DER at all", []byte("not a signature")},
	}
	for _, tc := range bad {
		t.Run("refuses a signature with "+tc.name, func(t *testing.T) {
			opaque, err := hsm.OpaqueSigner(fixedSigner{pub: pub, sig: tc.sig})
			if err != nil {
				t.Fatal(err)
			}
			if got, err := opaque.SignPayload([]byte("x"), jose.ES256); err == nil {
				t.Errorf("SignPayload returned %x", got)
			}
		})
	}
}

func TestOpaqueSignerKeyIDIsTheRFC7638Thumbprint(t *testing.T) {
	// RFC 7638 §3.1: the example RSA key and its SHA-256 thumbprint.
	n, err := base64.RawURLEncoding.DecodeString("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")
	if err != nil {
		t.Fatal(err)
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537}
	opaque, err := hsm.OpaqueSigner(fixedSigner{pub: pub})
	if err != nil {
		t.Fatal(err)
	}
	const want = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
	if got := opaque.Public().KeyID; got != want {
		t.Errorf("KeyID %q, want RFC 7638's %q", got, want)
	}
	if got := thumbprint(t, pub); got != want {
		t.Errorf("the test's own thumbprint gives %q, want %q", got, want)
	}
}

// thumbprint computes an RFC 7638 JWK thumbprint independently of go-jose:
// SHA-256 of the required members in lexicographic order, no whitespace.
func thumbprint(t *testing.T, pub crypto.PublicKey) string {
	t.Helper()
	b64 := base64.RawURLEncoding.EncodeToString
	var members string
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		raw, err := k.Bytes() // 0x04 || X || Y (SEC 1 §2.3.3)
		if err != nil {
			t.Fatal(err)
		}
		size := (len(raw) - 1) / 2
		members = fmt.Sprintf(`{"crv":%q,"kty":"EC","x":%q,"y":%q}`, k.Curve.Params().Name, b64(raw[1:1+size]), b64(raw[1+size:]))
	case *rsa.PublicKey:
		members = fmt.Sprintf(`{"e":%q,"kty":"RSA","n":%q}`, b64(big.NewInt(int64(k.E)).Bytes()), b64(k.N.Bytes()))
	case ed25519.PublicKey:
		// RFC 8037 §2: OKP keys.
		members = fmt.Sprintf(`{"crv":"Ed25519","kty":"OKP","x":%q}`, b64(k))
	default:
		t.Fatalf("thumbprint: unexpected key type %T", pub)
	}
	sum := sha256.Sum256([]byte(members))
	return b64(sum[:])
}
