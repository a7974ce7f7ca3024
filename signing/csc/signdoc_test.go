package csc_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"math/big"
	"net/http"
	"strings"
	"testing"

	"eidp/internal/db"
	"eidp/internal/testenv"
	"eidp/signing/cms"
	"eidp/signing/csc"
	"eidp/signing/jades"
	"eidp/signing/pdf"
	"eidp/signing/tsa"
)

func pool(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

// checkTimestamp verifies a CMS signer's signature-time-stamp over its
// signature value with our TSA's roots.
func (f *fixture) checkTimestamp(t testing.TB, si cms.SignerInfo) {
	t.Helper()
	tok, err := tsa.ParseToken(si.Timestamp)
	if err != nil {
		t.Fatalf("signature-time-stamp: %v", err)
	}
	imprint := sha256.Sum256(si.Signature)
	if err := tok.Verify(crypto.SHA256, imprint[:], pool(f.h.Root), pool(f.h.Issuing)); err != nil {
		t.Errorf("signature-time-stamp: %v", err)
	}
}

// checkPDF opens a signed PDF and verifies its one signature.
func (f *fixture) checkPDF(t testing.TB, signed, original []byte, res resident, level string) pdf.Signature {
	t.Helper()
	if !bytes.HasPrefix(signed, original) {
		t.Fatal("the signed PDF does not start with the original")
	}
	doc, err := pdf.Open(bytes.NewReader(signed), int64(len(signed)), pdf.Limits{})
	if err != nil {
		t.Fatalf("pdf.Open: %v", err)
	}
	sigs, err := doc.Signatures()
	if err != nil || len(sigs) != 1 {
		t.Fatalf("Signatures: %d, %v", len(sigs), err)
	}
	sig := sigs[0]
	sd, err := cms.Parse(sig.Contents)
	if err != nil {
		t.Fatalf("cms.Parse: %v", err)
	}
	digest, err := sig.Digest(bytes.NewReader(signed), crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if err := sd.Verify(digest); err != nil {
		t.Errorf("%s: CMS does not verify: %v", level, err)
	}
	si := sd.Signers[0]
	if !si.Certificate.Equal(res.cert.Cert) || sig.SubFilter != "ETSI.CAdES.detached" {
		t.Errorf("%s: signer %s, SubFilter %s", level, si.Certificate.Subject, sig.SubFilter)
	}
	if (si.Timestamp != nil) != (level != "B-B") {
		t.Errorf("%s: time-stamp present = %v", level, si.Timestamp != nil)
	}
	if si.Timestamp != nil {
		f.checkTimestamp(t, si)
	}
	if sig.CoversWholeDocument != (level != "B-LT") {
		t.Errorf("%s: CoversWholeDocument = %v", level, sig.CoversWholeDocument)
	}
	if level == "B-LT" && !bytes.Contains(signed[sig.RevisionEnd:], []byte("/DSS")) {
		t.Errorf("B-LT: no DSS after the signed revision")
	}
	return sig
}

func TestSignDocPAdES(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, csc.Options{})
		a := f.resident(t)
		levels := []string{"B-B", "B-T", "B-LT"}
		docs := make([][]byte, len(levels))
		digests := make([][]byte, len(levels))
		for i, l := range levels {
			docs[i] = document(t, "Application, signed at "+l)
			digests[i] = sum(crypto.SHA256, docs[i])
		}
		sad := f.approved(t, a, crypto.SHA256, digests...)
		records, events := f.signed(t, a)
		var documents []map[string]any
		for i, l := range levels {
			doc := map[string]any{"document": b64(docs[i]), "signature_format": "P", "conformance_level": "Ades-" + l, "signAlgo": ecdsaSHA256}
			if l == "B-T" {
				doc["appearance"] = map[string]any{"page": 1, "rect": []float64{300, 80, 560, 160}}
			}
			documents = append(documents, doc)
		}
		r := f.call(t, a.token, "signatures/signDoc", map[string]any{"credentialID": a.cert.ID, "SAD": sad, "documents": documents, "returnValidationInfo": true})
		r.wantOK(t)
		out := r.strings("DocumentWithSignature")
		if len(out) != 3 || r.body["SignatureObject"] != nil {
			t.Fatalf("signDoc answer: %d documents, SignatureObject %v", len(out), r.body["SignatureObject"])
		}
		for i, l := range levels {
			sig := f.checkPDF(t, unb64(t, out[i]), docs[i], a, l)
			if sig.Reason != "Tax return 2026" {
				t.Errorf("%s: reason %q, want the request's description", l, sig.Reason)
			}
		}
		if !bytes.Contains(unb64(t, out[1]), []byte("Digitally signed by ")) {
			t.Error("the appearance's text is not in the B-T document")
		}
		vi, _ := r.body["validationInfo"].(map[string]any)
		if ocsp, _ := vi["ocsp"].([]any); len(ocsp) != 1 {
			t.Errorf("validationInfo: %v", vi)
		}
		if certs, _ := vi["certificates"].([]any); len(certs) != 3 {
			t.Errorf("validationInfo certificates: %v", vi["certificates"])
		}
		if rs, e := f.signed(t, a); rs != records+3 || e != events+1 {
			t.Errorf("records %d → %d, events %d → %d; want a record per document and one event per call", records, rs, events, e)
		}
		recs, _ := f.act.Records(context.Background(), a.id, 3)
		formats := map[string]bool{}
		for _, rec := range recs {
			formats[rec.Format] = true
		}
		for _, l := range levels {
			if !formats["PAdES-"+l] {
				t.Errorf("no record of format PAdES-%s in %v", l, formats)
			}
		}
	})
}

func TestSignDocCAdESAndJAdES(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, csc.Options{})
		a := f.resident(t)
		content := []byte("a contract in plain text")
		payload := []byte(`{"form":"parking-permit","plate":"AB-123-CD"}`)
		outside := sha("a document the service hashed itself")
		sad := f.approved(t, a, crypto.SHA256, sum(crypto.SHA256, content), sum(crypto.SHA256, payload), outside)
		records, events := f.signed(t, a)
		r := f.call(t, a.token, "signatures/signDoc", map[string]any{
			"credentialID": a.cert.ID, "SAD": sad,
			"documents": []map[string]any{
				{"document": b64(content), "signature_format": "C", "conformance_level": "Ades-B-T", "signAlgo": ecdsaSHA256},
				{"document": b64(payload), "signature_format": "J", "conformance_level": "Ades-B-T", "signAlgo": ecdsaSHA256},
			},
			"documentDigests": []map[string]any{
				{"hashes": []string{b64(outside)}, "hashAlgorithmOID": sha256OID, "signature_format": "C", "conformance_level": "Ades-B-B", "signAlgo": ecdsaSHA256},
			},
		})
		r.wantOK(t)
		objs, docs := r.strings("SignatureObject"), r.strings("DocumentWithSignature")
		if len(objs) != 2 || len(docs) != 1 {
			t.Fatalf("%d SignatureObject, %d DocumentWithSignature", len(objs), len(docs))
		}
		for i, tc := range []struct {
			digest []byte
			level  string
		}{{sum(crypto.SHA256, content), "B-T"}, {outside, "B-B"}} {
			sd, err := cms.Parse(unb64(t, objs[i]))
			if err != nil {
				t.Fatalf("CAdES %d: %v", i, err)
			}
			if sd.Content != nil {
				t.Errorf("CAdES %d is not detached", i)
			}
			if err := sd.Verify(tc.digest); err != nil {
				t.Errorf("CAdES %d: %v", i, err)
			}
			si := sd.Signers[0]
			if !si.Certificate.Equal(a.cert.Cert) || (si.Timestamp != nil) != (tc.level == "B-T") {
				t.Errorf("CAdES %d: signer %s, time-stamp %v", i, si.Certificate.Subject, si.Timestamp != nil)
			}
			if si.Timestamp != nil {
				f.checkTimestamp(t, si)
			}
		}
		js, err := jades.Parse(unb64(t, docs[0]), nil)
		if err != nil {
			t.Fatalf("JAdES: %v", err)
		}
		if err := js.Verify(); err != nil || !bytes.Equal(js.Payload, payload) || js.Level() != "B-T" || !js.Certificate.Equal(a.cert.Cert) {
			t.Errorf("JAdES: %v, payload %q, level %s", err, js.Payload, js.Level())
		}
		tok, err := tsa.ParseToken(js.Timestamp)
		if err != nil {
			t.Fatal(err)
		}
		imprint := sha256.Sum256(js.TimestampedData())
		if err := tok.Verify(crypto.SHA256, imprint[:], pool(f.h.Root), pool(f.h.Issuing)); err != nil {
			t.Errorf("JAdES sigTst: %v", err)
		}
		if rs, e := f.signed(t, a); rs != records+3 || e != events+1 {
			t.Errorf("records %d → %d, events %d → %d; want a record per document and one event per call", records, rs, events, e)
		}

		// A detached JAdES leaves the payload out.
		sad = f.approved(t, a, crypto.SHA256, sum(crypto.SHA256, payload))
		r = f.call(t, a.token, "signatures/signDoc", map[string]any{"credentialID": a.cert.ID, "SAD": sad, "documents": []map[string]any{
			{"document": b64(payload), "signature_format": "J", "conformance_level": "Ades-B-B", "signAlgo": ecdsaSHA256, "signed_envelope_property": "Detached"},
		}})
		r.wantOK(t)
		js, err = jades.Parse(unb64(t, r.strings("DocumentWithSignature")[0]), payload)
		if err != nil || !js.Detached || js.Verify() != nil {
			t.Errorf("detached JAdES: %v", err)
		}
	})
}

func TestSignDocRefusals(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, csc.Options{MaxDocument: 4000})
		a := f.resident(t)
		good := document(t, "A good application")
		malformed := append([]byte("%PDF-1.7\n"), bytes.Repeat([]byte("garbage "), 50)...)
		encrypted := handPDF(" /Encrypt << /Filter /Standard /V 2 /R 3 /O <00> /U <00> /P -4 >>")
		large := append(document(t, "A long application"), bytes.Repeat([]byte("%padding\n"), 500)...)
		noPages := bytes.Replace(handPDF(""), []byte("/Pages 2 0 R"), []byte("/Pagez 2 0 R"), 1)
		if len(good) > 4000 || len(large) <= 4000 {
			t.Fatalf("test documents: %d and %d bytes", len(good), len(large))
		}
		// Every document is approved: the refusals are about the documents.
		sad := f.approved(t, a, crypto.SHA256, sum(crypto.SHA256, good), sum(crypto.SHA256, malformed),
			sum(crypto.SHA256, encrypted), sum(crypto.SHA256, large), sum(crypto.SHA256, noPages))
		records, events := f.signed(t, a)
		doc := func(content []byte, format, level string) map[string]any {
			return map[string]any{"document": b64(content), "signature_format": format, "conformance_level": level, "signAlgo": ecdsaSHA256}
		}
		call := func(docs ...map[string]any) response {
			return f.call(t, a.token, "signatures/signDoc", map[string]any{"credentialID": a.cert.ID, "SAD": sad, "documents": docs})
		}
		for name, tc := range map[string]struct {
			docs   []map[string]any
			status int
			desc   string
		}{
			"a malformed PDF":         {[]map[string]any{doc(malformed, "P", "Ades-B-B")}, 400, "malformed"},
			"an encrypted PDF":        {[]map[string]any{doc(encrypted, "P", "Ades-B-B")}, 400, "encrypted"},
			"a document too large":    {[]map[string]any{doc(large, "P", "Ades-B-B")}, 413, "larger than"},
			"a digest not approved":   {[]map[string]any{doc(document(t, "Something else"), "P", "Ades-B-B")}, 400, "approved"},
			"an unknown format":       {[]map[string]any{doc(good, "X", "Ades-B-B")}, 400, "signature_format"},
			"CAdES at B-LT":           {[]map[string]any{doc(good, "C", "Ades-B-LT")}, 400, "B-B and B-T"},
			"JAdES at B-LT":           {[]map[string]any{doc(good, "J", "Ades-B-LT")}, 400, "B-B and B-T"},
			"an unknown level":        {[]map[string]any{doc(good, "P", "Ades-B-LTA")}, 400, "conformance level"},
			"no documents":            {nil, 400, "required"},
			"an attached CAdES":       {[]map[string]any{with(doc(good, "C", "Ades-B-B"), "signed_envelope_property", "Attached")}, 400, "detached"},
			"a wrong signAlgo":        {[]map[string]any{with(doc(good, "P", "Ades-B-B"), "signAlgo", rsaSHA256OID)}, 400, "signAlgo"},
			"a document not base64":   {[]map[string]any{with(doc(good, "P", "Ades-B-B"), "document", "%%%")}, 400, "base64"},
			"a good and a bad":        {[]map[string]any{doc(good, "P", "Ades-B-B"), doc(encrypted, "P", "Ades-B-B")}, 400, "encrypted"},
			"the same document twice": {[]map[string]any{doc(good, "P", "Ades-B-B"), doc(good, "C", "Ades-B-B")}, 400, "twice"},
			// These open but cannot be signed: the check must come before
			// the SAD is spent (a 500 after activation lost it).
			"an appearance on a page the PDF lacks": {[]map[string]any{with(doc(good, "P", "Ades-B-B"), "appearance", map[string]any{"page": 9, "rect": []float64{10, 10, 100, 50}})}, 400, "appearance"},
			"an empty appearance rectangle":         {[]map[string]any{with(doc(good, "P", "Ades-B-B"), "appearance", map[string]any{"page": 1, "rect": []float64{100, 10, 100, 50}})}, 400, "appearance"},
			"a PDF without a page tree":             {[]map[string]any{doc(noPages, "P", "Ades-B-B")}, 400, "malformed"},
		} {
			t.Run(name, func(t *testing.T) {
				r := call(tc.docs...)
				r.wantError(t, tc.status, "invalid_request")
				if !strings.Contains(r.str("error_description"), tc.desc) {
					t.Errorf("error_description %q does not say %q", r.str("error_description"), tc.desc)
				}
			})
		}
		// A body larger than the limit is cut off while reading.
		r := f.call(t, a.token, "signatures/signDoc", bytes.Repeat([]byte(" "), 4000*4/3+64<<10+10))
		r.wantError(t, http.StatusRequestEntityTooLarge, "invalid_request")
		f.unchanged(t, a, records, events)
		// The SAD survived: the good document is signed.
		r = call(doc(good, "P", "Ades-B-B"))
		r.wantOK(t)
		f.checkPDF(t, unb64(t, r.strings("DocumentWithSignature")[0]), good, a, "B-B")
	})
}

func TestTimestamp(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, csc.Options{})
		a := f.resident(t)
		digest := sha("some data")
		r := f.call(t, a.token, "signatures/timestamp", map[string]any{"hash": b64(digest), "hashAlgorithmOID": sha256OID, "nonce": "0123456789abcdef"})
		r.wantOK(t)
		tok, err := tsa.ParseToken(unb64(t, r.str("timestamp")))
		if err != nil {
			t.Fatal(err)
		}
		if err := tok.Verify(crypto.SHA256, digest, pool(f.h.Root), pool(f.h.Issuing)); err != nil {
			t.Errorf("token: %v", err)
		}
		if want, _ := new(big.Int).SetString("0123456789abcdef", 16); tok.Nonce == nil || tok.Nonce.Cmp(want) != 0 {
			t.Errorf("nonce %v, want %v", tok.Nonce, want)
		}
		if err := tok.Verify(crypto.SHA256, sha("other data"), pool(f.h.Root), pool(f.h.Issuing)); err == nil {
			t.Error("the token verified over other data")
		}
		// Without a nonce there is none in the token.
		r = f.call(t, a.token, "signatures/timestamp", map[string]any{"hash": b64(digest), "hashAlgorithmOID": sha256OID})
		if tok, err := tsa.ParseToken(unb64(t, r.str("timestamp"))); err != nil || tok.Nonce != nil {
			t.Errorf("without nonce: %v, nonce %v", err, tok.Nonce)
		}
		for name, body := range map[string]map[string]any{
			"a short hash":      {"hash": b64(digest[:20]), "hashAlgorithmOID": sha256OID},
			"no hash":           {"hashAlgorithmOID": sha256OID},
			"SHA-1":             {"hash": b64(digest[:20]), "hashAlgorithmOID": "1.3.14.3.2.26"},
			"a non-hex nonce":   {"hash": b64(digest), "hashAlgorithmOID": sha256OID, "nonce": "xyz"},
			"a negative nonce":  {"hash": b64(digest), "hashAlgorithmOID": sha256OID, "nonce": "-1"},
			"a 161-bit nonce":   {"hash": b64(digest), "hashAlgorithmOID": sha256OID, "nonce": "1" + strings.Repeat("0", 40)},
			"a SHA-384 mixup":   {"hash": b64(digest), "hashAlgorithmOID": sha384OID},
			"not even a string": {"hash": 42, "hashAlgorithmOID": sha256OID},
		} {
			t.Run(name, func(t *testing.T) {
				f.call(t, a.token, "signatures/timestamp", body).wantError(t, http.StatusBadRequest, "invalid_request")
			})
		}
	})
}
