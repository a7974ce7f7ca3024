package jades

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// go-jose verifies what signInput produces (hash, PSS salt, r||s size and
// padding) over a header without crit, which go-jose would refuse.
func TestGoJoseVerifiesOurSignatures(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		alg    string
		signer crypto.Signer
	}{
		{"ES256", p256}, {"ES384", p384}, {"ES512", p521}, {"RS256", rsaKey}, {"PS256", rsaKey},
	} {
		t.Run(tc.alg, func(t *testing.T) {
			alg := algorithms[tc.alg]
			// Many rounds: an r or s with leading zero bytes must keep its size.
			for range 32 {
				header, _ := json.Marshal(map[string]string{"alg": tc.alg})
				input := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString([]byte("payload"))
				sig, err := signInput(context.Background(), tc.signer, alg, []byte(input))
				if err != nil {
					t.Fatal(err)
				}
				obj, err := jose.ParseSigned(input+"."+base64.RawURLEncoding.EncodeToString(sig), []jose.SignatureAlgorithm{jose.SignatureAlgorithm(tc.alg)})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := obj.Verify(tc.signer.Public()); err != nil {
					t.Fatalf("go-jose Verify: %v", err)
				}
			}
		})
	}
}

func TestECDSADERToJWSRejectsGarbage(t *testing.T) {
	for name, der := range map[string][]byte{
		"empty":          nil,
		"not DER":        []byte("r||s"),
		"trailing bytes": {0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00},
		"zero r":         {0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x01},
		"r too long":     append([]byte{0x30, 0x26, 0x02, 0x21, 0x01}, append(make([]byte, 32), 0x02, 0x01, 0x01)...),
	} {
		if _, err := ecdsaDERToJWS(der, 32); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
