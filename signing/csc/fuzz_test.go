package csc_test

import (
	"bytes"
	"crypto"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"eidp/internal/testenv"
	"eidp/signing/csc"
)

// FuzzSignRequests posts arbitrary bodies to signHash and signDoc with a
// valid service token: whatever the JSON, the answer is a CSC JSON answer,
// never a server error, and nothing is signed except through the one
// approved SAD for the one approved digest.
//
//	go test -run '^$' -fuzz FuzzSignRequests -fuzztime 60s ./signing/csc/
func FuzzSignRequests(f *testing.F) {
	fx := newFixture(f, testenv.OpenDB(f, testenv.SQLite(f)), csc.Options{MaxDocument: 64 << 10})
	res := fx.resident(f)
	doc := document(f, "Fuzzed application")
	digest := sum(crypto.SHA256, doc)
	sad := fx.approved(f, res, crypto.SHA256, digest)
	handler := fx.svc.Handler()

	seed := func(signDoc bool, v any) {
		b, err := json.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(signDoc, b)
	}
	seed(false, signHashBody(res, sad, sha256OID, ecdsaSHA256, digest))
	seed(false, signHashBody(res, "", sha256OID, ecdsaSHA256, digest[:20]))
	seed(false, map[string]any{"credentialID": res.cert.ID, "hashes": "not a list"})
	seed(true, map[string]any{"credentialID": res.cert.ID, "SAD": sad, "documents": []map[string]any{
		{"document": b64(doc), "signature_format": "P", "conformance_level": "Ades-B-B", "signAlgo": ecdsaSHA256,
			"appearance": map[string]any{"page": 1, "rect": []float64{1, 2, 3, 4}}},
	}})
	seed(true, map[string]any{"credentialID": res.cert.ID, "SAD": sad, "documents": []map[string]any{
		{"document": b64([]byte(`{"a":1}`)), "signature_format": "J", "conformance_level": "Ades-B-T", "signAlgo": ecdsaSHA256},
	}, "documentDigests": []map[string]any{
		{"hashes": []string{b64(digest)}, "hashAlgorithmOID": sha256OID, "signature_format": "C", "conformance_level": "Ades-B-B", "signAlgo": ecdsaSHA256},
	}})
	seed(true, map[string]any{"credentialID": res.cert.ID, "documentDigests": []map[string]any{{"hashAlgorithmOID": "x"}}})
	f.Add(true, []byte(`{"documents":[{"document":"JVBERi0xLjcK","signature_format":"P"}]}`))
	f.Add(false, []byte(`{"hashes":[null],"hashAlgorithmOID":"2.16.840.1.101.3.4.2.1","signAlgo":"1.2.840.10045.2.1"}`))
	f.Add(true, []byte(`[]`))
	f.Add(false, []byte{})

	f.Fuzz(func(t *testing.T, signDoc bool, body []byte) {
		method := "signatures/signHash"
		if signDoc {
			method = "signatures/signDoc"
		}
		records, _ := fx.signed(t, res)
		req := httptest.NewRequest(http.MethodPost, csc.Prefix+method, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+res.token)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s answered %d with non-JSON %q", method, rec.Code, rec.Body.Bytes())
		}
		after, _ := fx.signed(t, res)
		switch {
		case rec.Code >= 500:
			t.Fatalf("%s answered %d %s for %q", method, rec.Code, rec.Body.Bytes(), body)
		case rec.Code == http.StatusOK:
			if after <= records {
				t.Fatalf("%s signed without a record: %s", method, body)
			}
		default:
			if out["error"] == "" || out["error"] == nil || after != records {
				t.Fatalf("%s: %d %s, records %d → %d", method, rec.Code, rec.Body.Bytes(), records, after)
			}
		}
	})
}
