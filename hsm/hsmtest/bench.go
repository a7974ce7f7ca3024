package hsmtest

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/json"
	"errors"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"eidp/hsm"
)

// Bench measures signing throughput on km with sub-benchmarks "ECDSA-P256"
// and "RSA-2048" (and "IDToken-ES256": a whole ID token as a JWS), each signing SHA-256 digests from parallel goroutines
// (b.RunParallel; scale with -cpu) through one shared Signer, as a server
// does. Backends call it from their own Benchmark functions. The keys are
// created first and destroyed at the end.
func Bench(b *testing.B, km hsm.KeyManager) {
	cases := []struct {
		name string
		alg  hsm.Algorithm
	}{
		{"ECDSA-P256", hsm.ECP256},
		{"RSA-2048", hsm.RSA2048},
	}
	ctx := context.Background()
	d := digest(crypto.SHA256, []byte("benchmark message"))
	for _, bc := range cases {
		info, err := km.CreateKey(ctx, label("bench"), bc.alg)
		if err != nil {
			b.Fatalf("CreateKey(%s): %v", bc.alg, err)
		}
		b.Cleanup(func() {
			if err := km.Destroy(context.Background(), info.URI); err != nil && !errors.Is(err, hsm.ErrKeyNotFound) {
				b.Errorf("Destroy(%s): %v", info.URI, err)
			}
		})
		sg, err := km.Signer(ctx, info.URI)
		if err != nil {
			b.Fatalf("Signer(%s): %v", info.URI, err)
		}
		if bc.alg == hsm.ECP256 {
			b.Run("IDToken-ES256", func(b *testing.B) { benchIDToken(b, sg) })
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := sg.Sign(rand.Reader, d, crypto.SHA256); err != nil {
						b.Errorf("Sign: %v", err)
						return
					}
				}
			})
		})
	}
}

// benchIDToken measures what an ID token costs to sign: the claims of a
// typical one marshalled and signed as a compact JWS through the go-jose
// adapter (hsm.OpaqueSigner), as idp/jwks does.
func benchIDToken(b *testing.B, sg hsm.Signer) {
	op, err := hsm.OpaqueSignerWithKeyID(sg, "bench-kid")
	if err != nil {
		b.Fatal(err)
	}
	js, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: op}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		b.Fatal(err)
	}
	claims := map[string]any{
		"iss": "https://id.example.gov", "sub": "IaHViv1XDedEnDwVW30l0ynuPAfoPuID0WWYtgGlRVU", "aud": "dept-a",
		"exp": 1795979766, "iat": 1795979166, "auth_time": 1795979162, "acr": "urn:eidp:acr:substantial",
		"amr": []string{"hwk", "user", "pop"}, "nonce": "GPU5VLQGCLRQWQUSJVLYGOEAGD", "sid": "DadYAaV1K4kSzPvBi46k-P-7xx0Bjvej3_hSsRg228k",
		"at_hash": "92bFe9ke4y64uKHUmgekyg",
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			payload, err := json.Marshal(claims)
			if err == nil {
				var obj *jose.JSONWebSignature
				if obj, err = js.Sign(payload); err == nil {
					_, err = obj.CompactSerialize()
				}
			}
			if err != nil {
				b.Errorf("sign ID token: %v", err)
				return
			}
		}
	})
}
