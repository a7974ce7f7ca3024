package hsmtest

import (
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"testing"

	"eidp/hsm"
)

// Bench measures signing throughput on km with sub-benchmarks "ECDSA-P256"
// and "RSA-2048", each signing SHA-256 digests from parallel goroutines
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
