package hsmtest

import (
	"errors"
	"testing"
	"time"

	"eidp/hsm"
)

func (s *suite) testCapabilities(t *testing.T) {
	caps := s.km.Capabilities()
	// hsm.go: every backend supports these; only Ed25519 is optional.
	for _, alg := range []hsm.Algorithm{hsm.ECP256, hsm.ECP384, hsm.RSA2048, hsm.RSA3072, hsm.AES256} {
		if !s.supports(alg) {
			t.Errorf("Capabilities() = %v, missing %s", caps, alg)
		}
	}
	for _, alg := range caps {
		if _, err := hsm.ParseAlgorithm(string(alg)); err != nil {
			t.Errorf("Capabilities() lists an unknown algorithm: %v", err)
		}
	}
	if s.km.Name() == "" {
		t.Error("Name() is empty")
	}
}

func (s *suite) testCreate(t *testing.T) {
	for _, alg := range s.km.Capabilities() {
		t.Run(string(alg), func(t *testing.T) {
			before := time.Now()
			lbl := label("create")
			info, err := s.km.CreateKey(t.Context(), lbl, alg)
			if err != nil {
				t.Fatalf("CreateKey(%q, %s): %v", lbl, alg, err)
			}
			t.Cleanup(func() { s.destroy(t, info.URI) })

			if info.URI == "" {
				t.Fatal("CreateKey returned an empty URI")
			}
			if info.Label != lbl || info.Algorithm != alg {
				t.Errorf("CreateKey: label %q, algorithm %s; want %q, %s", info.Label, info.Algorithm, lbl, alg)
			}
			checkPublic(t, alg, info.Public)
			if !info.CreatedAt.IsZero() && (info.CreatedAt.Before(before.Add(-time.Minute)) || info.CreatedAt.After(time.Now().Add(time.Minute))) {
				t.Errorf("CreatedAt = %v, not about now (%v)", info.CreatedAt, before)
			}

			got, err := s.km.Key(t.Context(), info.URI)
			if err != nil {
				t.Fatalf("Key(%s): %v", info.URI, err)
			}
			if got.URI != info.URI || got.Label != lbl || got.Algorithm != alg {
				t.Errorf("Key(%s) = {URI %q, Label %q, Algorithm %s}; want what CreateKey returned", info.URI, got.URI, got.Label, got.Algorithm)
			}
			if !samePublic(got.Public, info.Public) {
				t.Errorf("Key(%s): public key differs from CreateKey's", info.URI)
			}
			if !got.CreatedAt.Equal(info.CreatedAt) {
				t.Errorf("Key(%s): CreatedAt %v, CreateKey said %v", info.URI, got.CreatedAt, info.CreatedAt)
			}
		})
	}
}

func (s *suite) testCreateUnsupported(t *testing.T) {
	bad := []hsm.Algorithm{"", "DSA-1024", "ec-p256"}
	if !s.supports(hsm.Ed25519) {
		bad = append(bad, hsm.Ed25519)
	}
	for _, alg := range bad {
		info, err := s.km.CreateKey(t.Context(), label("unsupported"), alg)
		if err == nil {
			s.destroy(t, info.URI)
		}
		wantErr(t, "CreateKey("+string(alg)+")", err, hsm.ErrUnsupportedAlgorithm)
	}
}

func (s *suite) testList(t *testing.T) {
	created := []hsm.KeyInfo{
		s.create(t, hsm.ECP384, "list"),
		s.create(t, hsm.AES256, "list"),
	}
	list, err := s.km.List(t.Context())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	byURI := make(map[string]hsm.KeyInfo, len(list))
	for _, k := range list {
		byURI[k.URI] = k
	}
	for _, want := range created {
		got, ok := byURI[want.URI]
		if !ok {
			t.Errorf("List does not contain %s (%s)", want.URI, want.Algorithm)
			continue
		}
		if got.Label != want.Label || got.Algorithm != want.Algorithm {
			t.Errorf("List: %s is {Label %q, Algorithm %s}; want {%q, %s}", want.URI, got.Label, got.Algorithm, want.Label, want.Algorithm)
		}
		if !samePublic(got.Public, want.Public) {
			t.Errorf("List: %s has another public key than CreateKey returned", want.URI)
		}
	}
}

func (s *suite) testDestroy(t *testing.T) {
	ec := s.create(t, hsm.ECP256, "destroy")
	aes := s.create(t, hsm.AES256, "destroy")
	signer := s.signer(t, ec.URI)
	sealed, err := s.km.Encrypt(t.Context(), aes.URI, []byte("shredded"), nil)
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}

	for _, k := range []hsm.KeyInfo{ec, aes} {
		if err := s.km.Destroy(t.Context(), k.URI); err != nil {
			t.Fatalf("Destroy(%s): %v", k.URI, err)
		}
	}

	ctx := t.Context()
	for _, uri := range []string{ec.URI, aes.URI} {
		_, err := s.km.Key(ctx, uri)
		wantErr(t, "Key after Destroy", err, hsm.ErrKeyNotFound)
		wantErr(t, "Destroy twice", s.km.Destroy(ctx, uri), hsm.ErrKeyNotFound)
	}
	_, err = s.km.Signer(ctx, ec.URI)
	wantErr(t, "Signer after Destroy", err, hsm.ErrKeyNotFound)
	_, err = signer.SignContext(ctx, digest(hashFor(hsm.ECP256), []byte("m")), hashFor(hsm.ECP256))
	wantErr(t, "signing with a signer obtained before Destroy", err, hsm.ErrKeyNotFound)
	// Crypto-shredding: nothing sealed under a destroyed key opens again.
	_, err = s.km.Decrypt(ctx, aes.URI, sealed, nil)
	wantErr(t, "Decrypt after Destroy", err, hsm.ErrKeyNotFound)
	_, err = s.km.Encrypt(ctx, aes.URI, []byte("x"), nil)
	wantErr(t, "Encrypt after Destroy", err, hsm.ErrKeyNotFound)

	list, err := s.km.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	for _, k := range list {
		if k.URI == ec.URI || k.URI == aes.URI {
			t.Errorf("List still contains destroyed key %s", k.URI)
		}
	}
}

func (s *suite) testURIs(t *testing.T) {
	ctx := t.Context()
	ec := s.create(t, hsm.ECP256, "uri")
	gone := s.create(t, hsm.AES256, "uri-gone")
	if err := s.km.Destroy(ctx, gone.URI); err != nil {
		t.Fatalf("Destroy: %v", err)
	}

	// ops runs every URI-taking operation on uri and returns their errors.
	ops := func(uri string) map[string]error {
		_, keyErr := s.km.Key(ctx, uri)
		_, signerErr := s.km.Signer(ctx, uri)
		_, encErr := s.km.Encrypt(ctx, uri, []byte("x"), nil)
		_, decErr := s.km.Decrypt(ctx, uri, make([]byte, hsm.GCMNonceSize+hsm.GCMTagSize+1), nil)
		return map[string]error{
			"Key": keyErr, "Signer": signerErr, "Encrypt": encErr, "Decrypt": decErr,
			"Destroy": s.km.Destroy(ctx, uri),
		}
	}

	t.Run("does not find a destroyed key's URI", func(t *testing.T) {
		for op, err := range ops(gone.URI) {
			wantErr(t, op+"("+gone.URI+")", err, hsm.ErrKeyNotFound)
		}
	})
	malformed := []struct{ name, uri string }{
		{"an empty string", ""},
		{"text that is no URI", "not a key URI"},
		{"a URI of another scheme", "https://example.com/keys/1"},
		// RFC 3986 §2.1: "%" must start two hex digits.
		{"a key's URI with a broken percent-escape", ec.URI + "%zz"},
	}
	for _, m := range malformed {
		t.Run("rejects "+m.name, func(t *testing.T) {
			for op, err := range ops(m.uri) {
				wantErr(t, op+"("+m.uri+")", err, hsm.ErrInvalidURI)
				if errors.Is(err, hsm.ErrKeyNotFound) {
					t.Errorf("%s(%q): a malformed URI must not read as a missing key", op, m.uri)
				}
			}
		})
	}
	// The malformed variant must not have destroyed the real key.
	if _, err := s.km.Key(ctx, ec.URI); err != nil {
		t.Errorf("Key(%s) after the malformed lookups: %v", ec.URI, err)
	}
}
