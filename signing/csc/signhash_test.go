package csc_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"net/http"
	"sync"
	"testing"
	"time"

	"eidp/idp/interaction"
	"eidp/internal/db"
	"eidp/internal/testenv"
	"eidp/signing/ca"
	"eidp/signing/csc"
)

const (
	sha256OID    = "2.16.840.1.101.3.4.2.1"
	sha384OID    = "2.16.840.1.101.3.4.2.2"
	ecdsaSHA256  = "1.2.840.10045.4.3.2"
	ecdsaSHA384  = "1.2.840.10045.4.3.3"
	rsaSHA256OID = "1.2.840.113549.1.1.11"
)

func signHashBody(res resident, sad, hashOID, signAlgo string, digests ...[]byte) map[string]any {
	hashes := make([]string, len(digests))
	for i, d := range digests {
		hashes[i] = b64(d)
	}
	body := map[string]any{"credentialID": res.cert.ID, "hashes": hashes, "hashAlgorithmOID": hashOID, "signAlgo": signAlgo}
	if sad != "" {
		body["SAD"] = sad
	}
	return body
}

// verifySignatures checks raw signHash values with the certificate's key.
func verifySignatures(t testing.TB, r response, res resident, digests ...[]byte) {
	t.Helper()
	r.wantOK(t)
	sigs := r.strings("signatures")
	if len(sigs) != len(digests) {
		t.Fatalf("%d signatures for %d hashes", len(sigs), len(digests))
	}
	pub := res.cert.Cert.PublicKey.(*ecdsa.PublicKey)
	for i, s := range sigs {
		if !ecdsa.VerifyASN1(pub, digests[i], unb64(t, s)) {
			t.Errorf("signature %d does not verify with the certificate's key", i)
		}
		if i > 0 && ecdsa.VerifyASN1(pub, digests[0], unb64(t, s)) {
			t.Errorf("signature %d verifies over digest 0", i)
		}
	}
}

func TestSignHash(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f := newFixture(t, d, csc.Options{})
		a := f.resident(t)
		d1, d2, d3 := sha("tax return"), sha("annex"), sha("something else")

		t.Run("pending, then approved and used once", func(t *testing.T) {
			sad, id := f.authorize(t, a, crypto.SHA256, d1, d2)
			records, events := f.signed(t, a)
			f.call(t, a.token, "signatures/signHash", signHashBody(a, sad, sha256OID, ecdsaSHA256, d1, d2)).
				wantError(t, http.StatusBadRequest, "authorization_pending")
			f.unchanged(t, a, records, events)

			f.approve(t, a, id)
			r := f.call(t, a.token, "signatures/signHash", signHashBody(a, sad, sha256OID, ecdsaSHA256, d1, d2))
			verifySignatures(t, r, a, d1, d2)
			if r2, e2 := f.signed(t, a); r2 != records+2 || e2 != events+1 {
				t.Errorf("after signing two hashes: records %d → %d, signature_created events %d → %d", records, r2, events, e2)
			}
			recs, err := f.act.Records(ctx, a.id, 10)
			if err != nil || len(recs) < 2 {
				t.Fatalf("Records: %v %v", recs, err)
			}
			for _, rec := range recs[:2] {
				if rec.RequestID != id || rec.CredentialID != a.cert.ID || rec.Format != "raw" || rec.HashOID != sha256OID ||
					rec.CertSerial != a.cert.Serial.Text(16) || string(rec.Evidence) != `{"signature":"test-evidence"}` {
					t.Errorf("record %+v", rec)
				}
			}
			ev, err := f.accounts.Activity(ctx, a.id, 1)
			if err != nil || len(ev) != 1 || ev[0].Detail["documents"] != "2" || ev[0].Detail["format"] != "raw" || ev[0].Detail["client_zh"] != "稅務局" {
				t.Errorf("activity event %+v, %v", ev, err)
			}

			// The SAD is single-use.
			records, events = f.signed(t, a)
			f.call(t, a.token, "signatures/signHash", signHashBody(a, sad, sha256OID, ecdsaSHA256, d1)).
				wantError(t, http.StatusBadRequest, "invalid_request")
			f.unchanged(t, a, records, events)
		})

		t.Run("refusals sign nothing and keep the SAD", func(t *testing.T) {
			sad := f.approved(t, a, crypto.SHA256, d1, d2)
			other := f.resident(t)
			records, events := f.signed(t, a)
			for name, tc := range map[string]struct {
				token string
				body  map[string]any
			}{
				"a digest not approved":   {a.token, signHashBody(a, sad, sha256OID, ecdsaSHA256, d1, d3)},
				"a 20-byte digest":        {a.token, signHashBody(a, sad, sha256OID, ecdsaSHA256, d1[:20])},
				"SHA-384 for SHA-256":     {a.token, signHashBody(a, sad, sha384OID, ecdsaSHA384, sum(crypto.SHA384, []byte("x")))},
				"signAlgo for SHA-384":    {a.token, signHashBody(a, sad, sha256OID, ecdsaSHA384, d1)},
				"an RSA signAlgo":         {a.token, signHashBody(a, sad, sha256OID, rsaSHA256OID, d1)},
				"no signAlgo":             {a.token, signHashBody(a, sad, sha256OID, "", d1)},
				"unknown hash algorithm":  {a.token, signHashBody(a, sad, "1.2.3", ecdsaSHA256, d1)},
				"no hashes":               {a.token, signHashBody(a, sad, sha256OID, ecdsaSHA256)},
				"a hash twice":            {a.token, signHashBody(a, sad, sha256OID, ecdsaSHA256, d1, d1)},
				"a wrong SAD":             {a.token, signHashBody(a, "not-the-sad", sha256OID, ecdsaSHA256, d1)},
				"no SAD":                  {a.token, signHashBody(a, "", sha256OID, ecdsaSHA256, d1)},
				"another credential":      {a.token, signHashBody(other, sad, sha256OID, ecdsaSHA256, d1)},
				"another client's token":  {f.tokenFor("other-client", a.id, "", "service"), signHashBody(a, sad, sha256OID, ecdsaSHA256, d1)},
				"asynchronous operation":  {a.token, with(signHashBody(a, sad, sha256OID, ecdsaSHA256, d1), "operationMode", "A")},
				"another resident's call": {other.token, signHashBody(a, sad, sha256OID, ecdsaSHA256, d1)},
			} {
				t.Run(name, func(t *testing.T) {
					f.call(t, tc.token, "signatures/signHash", tc.body).wantError(t, http.StatusBadRequest, "invalid_request")
				})
			}
			f.unchanged(t, a, records, events)
			// None of that consumed the SAD: it still signs what was approved
			// (a subset of it), and then it is used up.
			verifySignatures(t, f.call(t, a.token, "signatures/signHash", signHashBody(a, sad, sha256OID, ecdsaSHA256, d2)), a, d2)
			f.call(t, a.token, "signatures/signHash", signHashBody(a, sad, sha256OID, ecdsaSHA256, d1)).
				wantError(t, http.StatusBadRequest, "invalid_request")
		})

		t.Run("concurrent uses of one SAD: one signs", func(t *testing.T) {
			sad := f.approved(t, a, crypto.SHA256, sha("concurrent"))
			records, _ := f.signed(t, a)
			var (
				wg sync.WaitGroup
				mu sync.Mutex
				ok int
			)
			for range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := f.call(t, a.token, "signatures/signHash", signHashBody(a, sad, sha256OID, ecdsaSHA256, sha("concurrent")))
					mu.Lock()
					defer mu.Unlock()
					if r.status == http.StatusOK {
						ok++
					} else if r.status != http.StatusBadRequest {
						t.Errorf("concurrent use: %d %s", r.status, r.raw)
					}
				}()
			}
			wg.Wait()
			if after, _ := f.signed(t, a); ok != 1 || after != records+1 {
				t.Errorf("%d of 6 concurrent calls signed, records %d → %d; want exactly one", ok, records, after)
			}
		})

		t.Run("ecPublicKey as signAlgo and SHA-384", func(t *testing.T) {
			d := sum(crypto.SHA384, []byte("SHA-384 document"))
			sad := f.approved(t, a, crypto.SHA384, d)
			verifySignatures(t, f.call(t, a.token, "signatures/signHash", signHashBody(a, sad, sha384OID, "1.2.840.10045.2.1", d)), a, d)
		})

		t.Run("denied", func(t *testing.T) {
			sad, id := f.authorize(t, a, crypto.SHA256, d3)
			if _, err := f.act.Deny(ctx, id, a.id); err != nil {
				t.Fatal(err)
			}
			f.call(t, a.token, "signatures/signHash", signHashBody(a, sad, sha256OID, ecdsaSHA256, d3)).
				wantError(t, http.StatusBadRequest, "access_denied")
		})

		t.Run("expired activation", func(t *testing.T) {
			sad := f.approved(t, a, crypto.SHA256, d3)
			f.clock.Advance(f.act.SADLifetime() + time.Second)
			records, events := f.signed(t, a)
			f.call(t, a.token, "signatures/signHash", signHashBody(a, sad, sha256OID, ecdsaSHA256, d3)).
				wantError(t, http.StatusBadRequest, "invalid_request")
			f.unchanged(t, a, records, events)
		})

		t.Run("revoked certificate", func(t *testing.T) {
			b := f.resident(t)
			sad := f.approved(t, b, crypto.SHA256, d1)
			if err := f.ca.Revoke(ctx, b.cert.ID, ca.ReasonKeyCompromise, "test"); err != nil {
				t.Fatal(err)
			}
			records, events := f.signed(t, b)
			f.call(t, b.token, "signatures/signHash", signHashBody(b, sad, sha256OID, ecdsaSHA256, d1)).
				wantError(t, http.StatusBadRequest, "invalid_request")
			f.unchanged(t, b, records, events)
		})

		t.Run("credential-scoped token (OAuth route) needs no SAD", func(t *testing.T) {
			id, err := f.svc.BeginSigning(ctx, clientID, a.id, interaction.SigningAuthorization{
				CredentialID: a.cert.ID, HashAlgorithmOID: sha256OID,
				Documents: []interaction.SigningDocument{{Label: "Tax return", Hash: d1}},
			})
			if err != nil {
				t.Fatal(err)
			}
			f.approve(t, a, id)
			if err := f.act.BindGrant(ctx, id, "grant-1"); err != nil {
				t.Fatal(err)
			}
			tok := f.token(a.id, "grant-1", "openid", csc.ScopeCredential)
			records, events := f.signed(t, a)
			verifySignatures(t, f.call(t, tok, "signatures/signHash", signHashBody(a, "", sha256OID, ecdsaSHA256, d1)), a, d1)
			if r, e := f.signed(t, a); r != records+1 || e != events+1 {
				t.Errorf("records %d → %d, events %d → %d", records, r, events, e)
			}
			f.call(t, tok, "signatures/signHash", signHashBody(a, "", sha256OID, ecdsaSHA256, d1)).
				wantError(t, http.StatusBadRequest, "invalid_request")
			// A service token of an unbound grant has nothing to activate.
			f.call(t, f.token(a.id, "grant-2", csc.ScopeCredential), "signatures/signHash", signHashBody(a, "", sha256OID, ecdsaSHA256, d1)).
				wantError(t, http.StatusBadRequest, "invalid_request")
		})
	})
}

func with(m map[string]any, k string, v any) map[string]any {
	m[k] = v
	return m
}

// TestSignHashLimits: MaxSignHash bounds the hashes per call.
func TestSignHashLimits(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, csc.Options{MaxSignHash: 2})
		a := f.resident(t)
		ds := [][]byte{sha("1"), sha("2"), sha("3")}
		sad := f.approved(t, a, crypto.SHA256, ds...)
		f.call(t, a.token, "signatures/signHash", signHashBody(a, sad, sha256OID, ecdsaSHA256, ds...)).
			wantError(t, http.StatusBadRequest, "invalid_request")
		verifySignatures(t, f.call(t, a.token, "signatures/signHash", signHashBody(a, sad, sha256OID, ecdsaSHA256, ds[:2]...)), a, ds[:2]...)
	})
}
