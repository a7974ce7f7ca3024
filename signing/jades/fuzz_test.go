package jades_test

import (
	"context"
	"crypto"
	"testing"

	"eidp/signing/jades"
)

// FuzzParse feeds Parse (and Verify on what parses) with mutations of real
// signatures: it must never panic, whatever it is given.
func FuzzParse(f *testing.F) {
	ca := newTestCA(f)
	for _, k := range inProcessKeys(f)[:4] {
		cert := ca.issue(f, k.name, k.signer.Public())
		for _, opts := range []jades.SignOptions{
			{Certificate: cert},
			{Certificate: cert, Detached: true, ContentType: "json"},
			{Certificate: cert, Timestamp: func(context.Context, crypto.Hash, []byte) ([]byte, error) { return []byte{0x30, 0}, nil }},
		} {
			jws, err := jades.Sign(context.Background(), k.signer, payload, opts)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(jws, opts.Detached)
		}
	}
	f.Add([]byte("eyJhbGciOiJFUzI1NiJ9..c2ln"), true)
	f.Add([]byte(`{"signatures":[{"protected":"e30","signature":"AA"}],"payload":""}`), false)
	f.Fuzz(func(t *testing.T, data []byte, detached bool) {
		var p []byte
		if detached {
			p = payload
		}
		s, err := jades.Parse(data, p)
		if err != nil {
			return
		}
		_ = s.Verify()
		_ = s.Level()
	})
}
