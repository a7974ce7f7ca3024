package hsmtest

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"sync"
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

// BenchWrapped measures wrapped keys (hsm.KeyWrapper) on km under a fresh
// AES-256 wrapping key, with EC-P256 keys and SHA-256 digests:
//
//   - "GenerateWrapped": one resident key made and wrapped per op;
//   - "SignWrapped": one signature per op with one key, unwrapped each time;
//   - "SignWrapped-parallel": the same from parallel goroutines (scale with -cpu);
//   - "SignWrapped-<residents>-keys": one signature per op with a key picked
//     at random among residents wrapped keys held in memory, as a server
//     signing for many residents does. Its ns/op should match "SignWrapped":
//     the cost does not depend on the number of residents.
//
// The wrapping key is destroyed at the end.
func BenchWrapped(b *testing.B, km hsm.KeyManager, residents int) {
	kw, ok := hsm.KeyWrapperOf(km)
	if !ok {
		b.Fatalf("%s does not implement hsm.KeyWrapper", km.Name())
	}
	ctx := context.Background()
	kek, err := km.CreateKey(ctx, label("bench-kek"), hsm.AES256)
	if err != nil {
		b.Fatalf("CreateKey(AES-256): %v", err)
	}
	b.Cleanup(func() {
		if err := km.Destroy(context.Background(), kek.URI); err != nil && !errors.Is(err, hsm.ErrKeyNotFound) {
			b.Errorf("Destroy(%s): %v", kek.URI, err)
		}
	})
	d := digest(crypto.SHA256, []byte("benchmark message"))
	b.Run("GenerateWrapped", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := kw.GenerateWrapped(ctx, kek.URI, hsm.ECP256); err != nil {
				b.Fatalf("GenerateWrapped: %v", err)
			}
		}
	})
	one, err := kw.GenerateWrapped(ctx, kek.URI, hsm.ECP256)
	if err != nil {
		b.Fatalf("GenerateWrapped: %v", err)
	}
	b.Run("SignWrapped", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := kw.SignWrapped(ctx, kek.URI, one, d, crypto.SHA256); err != nil {
				b.Fatalf("SignWrapped: %v", err)
			}
		}
	})
	b.Run("SignWrapped-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := kw.SignWrapped(ctx, kek.URI, one, d, crypto.SHA256); err != nil {
					b.Errorf("SignWrapped: %v", err)
					return
				}
			}
		})
	})
	if residents <= 0 {
		return
	}
	keys, err := generateWrappedKeys(ctx, kw, kek.URI, residents)
	if err != nil {
		b.Fatal(err)
	}
	b.Run(fmt.Sprintf("SignWrapped-%d-keys", residents), func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			key := keys[mathrand.IntN(len(keys))]
			if _, err := kw.SignWrapped(ctx, kek.URI, key, d, crypto.SHA256); err != nil {
				b.Fatalf("SignWrapped: %v", err)
			}
		}
	})
}

// generateWrappedKeys makes n EC-P256 wrapped keys from a few goroutines.
func generateWrappedKeys(ctx context.Context, kw hsm.KeyWrapper, kek string, n int) ([]hsm.WrappedKey, error) {
	keys := make([]hsm.WrappedKey, n)
	const workers = 4
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				k, err := kw.GenerateWrapped(ctx, kek, hsm.ECP256)
				if err != nil {
					errs[w] = fmt.Errorf("GenerateWrapped (key %d of %d): %w", i, n, err)
					return
				}
				keys[i] = k
			}
		})
	}
	wg.Wait()
	return keys, errors.Join(errs...)
}
