package formats_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"eidp/hsm"
	"eidp/hsm/testkeys"
	"eidp/internal/testenv"
	"eidp/signing/cms"
	"eidp/signing/formats"
	"eidp/signing/pdf"
)

// pades signs doc and checks what every PAdES signature must be: the
// original bytes untouched, the count of bytes written, one more signature
// whose CMS verifies over its byte range and has no signing-time.
func pades(t testing.TB, s formats.Signer, doc []byte, level formats.Level, opts formats.PDFOptions) []byte {
	t.Helper()
	var out bytes.Buffer
	n, err := s.PAdES(context.Background(), bytes.NewReader(doc), int64(len(doc)), &out, level, opts)
	if err != nil {
		t.Fatalf("PAdES %s: %v", level, err)
	}
	if n != int64(out.Len()) {
		t.Fatalf("PAdES returned %d, wrote %d bytes", n, out.Len())
	}
	if !bytes.HasPrefix(out.Bytes(), doc) {
		t.Fatal("the signed PDF does not start with the original bytes (not an incremental update)")
	}
	return out.Bytes()
}

// lastSignature opens signed and returns its newest signature and parsed CMS
// after checking the CMS over the signature's byte range.
func lastSignature(t testing.TB, signed []byte, count int) (pdf.Signature, *cms.SignedData) {
	t.Helper()
	d, err := pdf.Open(bytes.NewReader(signed), int64(len(signed)), pdf.Limits{})
	if err != nil {
		t.Fatalf("pdf.Open(signed): %v", err)
	}
	sigs, err := d.Signatures()
	if err != nil || len(sigs) != count {
		t.Fatalf("Signatures = %d, %v; want %d", len(sigs), err, count)
	}
	sig := sigs[len(sigs)-1]
	if sig.SubFilter != "ETSI.CAdES.detached" {
		t.Errorf("SubFilter %q", sig.SubFilter)
	}
	sd, err := cms.Parse(sig.Contents)
	if err != nil {
		t.Fatalf("cms.Parse(/Contents): %v", err)
	}
	digest, err := sig.Digest(bytes.NewReader(signed), crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if err := sd.Verify(digest); err != nil {
		t.Errorf("CMS does not verify over the byte range: %v", err)
	}
	if !sd.Signers[0].SigningTime.IsZero() {
		t.Error("a PAdES CMS carries signing-time (EN 319 142-1 §5.2.2.4: the time is /M)")
	}
	if !sd.Signers[0].SigningCertV2 {
		t.Error("no signing-certificate-v2")
	}
	return sig, sd
}

func TestPAdES(t *testing.T) {
	eachBackend(t, func(t *testing.T, km hsm.KeyManager) {
		e := newEnv(t, km)
		s, cert := e.signer(t, "resident-1")
		doc := document(t, 0)
		for _, level := range []formats.Level{formats.LevelB, formats.LevelT, formats.LevelLT} {
			t.Run(string(level), func(t *testing.T) {
				signed := pades(t, s, doc, level, formats.PDFOptions{Name: cert.Cert.Subject.CommonName, Reason: "I apply", Location: "Hong Kong"})
				sig, sd := lastSignature(t, signed, 1)
				if sig.Reason != "I apply" || sig.Location != "Hong Kong" || sig.SigningTime.IsZero() {
					t.Errorf("signature dictionary: reason %q, location %q, /M %v", sig.Reason, sig.Location, sig.SigningTime)
				}
				if want := level != formats.LevelLT; sig.CoversWholeDocument != want {
					t.Errorf("CoversWholeDocument = %v, want %v", sig.CoversWholeDocument, want)
				}
				if level == formats.LevelB {
					if sd.Signers[0].Timestamp != nil {
						t.Error("B-B carries a time-stamp")
					}
				} else {
					e.checkSignatureTimestamp(t, sd.Signers[0])
				}
				res := e.pdfsig(t, signed)
				if len(res) != 1 {
					t.Fatalf("pdfsig: %d signatures", len(res))
				}
				res[0].WantValid(t, level != formats.LevelLT)
				if level == formats.LevelLT {
					if sig.RevisionEnd >= int64(len(signed)) {
						t.Error("B-LT: no update after the signed revision")
					}
					e.checkDSS(t, signed, s, cert.Cert)
				}
			})
		}
	})
}

// checkDSS reads the document's DSS with qpdf (an independent PDF reader)
// and checks it holds the signer's path, the TSA's, a good OCSP response
// for the signer by the CA's responder, and the CRLs of both CAs.
func (e *env) checkDSS(t *testing.T, signed []byte, s formats.Signer, cert *x509.Certificate) {
	t.Helper()
	dss := qpdfDSS(t, signed)
	for _, c := range []*x509.Certificate{cert, e.h.Issuing, e.h.Root, e.tsaCert} {
		if !containsBytes(dss["Certs"], c.Raw) {
			t.Errorf("DSS /Certs lacks %s", c.Subject)
		}
	}
	if len(dss["OCSPs"]) != 1 {
		t.Fatalf("DSS /OCSPs has %d responses, want 1", len(dss["OCSPs"]))
	}
	resp, err := ocsp.ParseResponseForCert(dss["OCSPs"][0], cert, e.h.Issuing)
	if err != nil {
		t.Fatalf("DSS OCSP response: %v", err)
	}
	if resp.Status != ocsp.Good || resp.SerialNumber.Cmp(cert.SerialNumber) != 0 {
		t.Errorf("OCSP status %d for serial %x, want good for %x", resp.Status, resp.SerialNumber, cert.SerialNumber)
	}
	if resp.Certificate == nil || !resp.Certificate.Equal(e.h.OCSP) {
		t.Error("the OCSP response is not signed by the CA's OCSP responder certificate")
	}
	if len(dss["CRLs"]) != 2 {
		t.Fatalf("DSS /CRLs has %d, want 2 (issuing CA and root)", len(dss["CRLs"]))
	}
	issuers := map[string]bool{}
	for _, der := range dss["CRLs"] {
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			t.Fatalf("DSS CRL: %v", err)
		}
		for _, ca := range []*x509.Certificate{e.h.Issuing, e.h.Root} {
			if crl.CheckSignatureFrom(ca) == nil {
				issuers[ca.Subject.CommonName] = true
			}
		}
		if crl.NextUpdate.Before(time.Now()) {
			t.Errorf("CRL of %s is stale", crl.Issuer)
		}
	}
	if len(issuers) != 2 {
		t.Errorf("DSS CRLs are signed by %v, want the issuing CA and the root", issuers)
	}
}

func containsBytes(list [][]byte, b []byte) bool {
	for _, x := range list {
		if bytes.Equal(x, b) {
			return true
		}
	}
	return false
}

// qpdfDSS returns the streams of the catalog's /DSS arrays (Certs, OCSPs,
// CRLs) as qpdf reads them (JSON v2, stream data inline).
func qpdfDSS(t *testing.T, signed []byte) map[string][][]byte {
	t.Helper()
	qpdf := testenv.Tool(t, "qpdf", "qpdf")
	file := writeFile(t, t.TempDir(), "signed.pdf", signed)
	out, ok := run(t, qpdf, "--json=2", "--json-stream-data=inline", "--json-key=qpdf", file)
	if !ok {
		t.Fatalf("qpdf --json: %s", out)
	}
	var doc struct {
		QPDF []json.RawMessage `json:"qpdf"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.QPDF) != 2 {
		t.Fatalf("qpdf JSON: %v", err)
	}
	var objects map[string]struct {
		Value  json.RawMessage `json:"value"`
		Stream struct {
			Data string `json:"data"`
		} `json:"stream"`
	}
	if err := json.Unmarshal(doc.QPDF[1], &objects); err != nil {
		t.Fatalf("qpdf objects: %v", err)
	}
	dict := func(key string) map[string]json.RawMessage {
		var m map[string]json.RawMessage
		if key != "trailer" {
			key = "obj:" + key
		}
		if err := json.Unmarshal(objects[key].Value, &m); err != nil {
			t.Fatalf("qpdf object %s is not a dictionary: %v", key, err)
		}
		return m
	}
	ref := func(raw json.RawMessage) string {
		var r string
		if err := json.Unmarshal(raw, &r); err != nil || !strings.HasSuffix(r, " R") {
			t.Fatalf("%s is not a reference", raw)
		}
		return r
	}
	trailer := dict("trailer")
	catalog := dict(ref(trailer["/Root"]))
	if catalog["/DSS"] == nil {
		t.Fatal("the catalog has no /DSS")
	}
	dss := dict(ref(catalog["/DSS"]))
	res := map[string][][]byte{}
	for _, k := range []string{"Certs", "OCSPs", "CRLs"} {
		var refs []string
		if dss["/"+k] != nil {
			if err := json.Unmarshal(dss["/"+k], &refs); err != nil {
				t.Fatalf("DSS /%s: %v", k, err)
			}
		}
		for _, r := range refs {
			data, err := base64.StdEncoding.DecodeString(objects["obj:"+r].Stream.Data)
			if err != nil || len(data) == 0 {
				t.Fatalf("DSS /%s item %s: no stream data (%v)", k, r, err)
			}
			res[k] = append(res[k], data)
		}
	}
	return res
}

// TestPAdESVisibleSignature draws the signature on page 1: pdfsig accepts
// it and the rendered page differs from the unsigned one in the rectangle.
func TestPAdESVisibleSignature(t *testing.T) {
	e := newEnv(t, testkeys.Soft(t))
	s, cert := e.signer(t, "resident-1")
	doc := document(t, 0)
	signed := pades(t, s, doc, formats.LevelT, formats.PDFOptions{
		Name: cert.Cert.Subject.CommonName, Reason: "I apply",
		Visible: &pdf.Appearance{Page: 1, Rect: [4]float64{300, 80, 560, 160}, Lines: []string{"Digitally signed by " + cert.Cert.Subject.CommonName, "Reason: I apply"}},
	})
	res := e.pdfsig(t, signed)
	res[0].WantValid(t, true)
	before, after := render(t, doc), render(t, signed)
	if bytes.Equal(before, after) {
		t.Fatal("the visible signature does not change the rendered page")
	}
	// An invisible signature leaves the page as it was.
	invisible := pades(t, s, doc, formats.LevelB, formats.PDFOptions{Name: cert.Cert.Subject.CommonName})
	if !bytes.Equal(before, render(t, invisible)) {
		t.Error("an invisible signature changed the rendered page")
	}
}

// render rasterises page 1 with poppler's pdftoppm (PPM bytes).
func render(t *testing.T, doc []byte) []byte {
	t.Helper()
	bin := testenv.Tool(t, "pdftoppm", "poppler-utils")
	dir := t.TempDir()
	in := writeFile(t, dir, "in.pdf", doc)
	if out, ok := run(t, bin, "-f", "1", "-l", "1", "-r", "50", in, filepath.Join(dir, "page")); !ok {
		t.Fatalf("pdftoppm: %s", out)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "page*.ppm"))
	if len(matches) != 1 {
		t.Fatalf("pdftoppm wrote %v", matches)
	}
	b, err := os.ReadFile(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPAdESSecondSigner: another resident signs the signed document; both
// signatures stay valid, the first covering its revision only.
func TestPAdESSecondSigner(t *testing.T) {
	e := newEnv(t, testkeys.Soft(t))
	first, c1 := e.signer(t, "resident-1")
	second, c2 := e.signer(t, "resident-2")
	doc := document(t, 0)
	once := pades(t, first, doc, formats.LevelLT, formats.PDFOptions{Name: c1.Cert.Subject.CommonName})
	twice := pades(t, second, once, formats.LevelT, formats.PDFOptions{Name: c2.Cert.Subject.CommonName})
	sig, sd := lastSignature(t, twice, 2)
	if !sd.Signers[0].Certificate.Equal(c2.Cert) || !sig.CoversWholeDocument {
		t.Error("the second signature is not the second resident's over the whole file")
	}
	res := e.pdfsig(t, twice)
	if len(res) != 2 {
		t.Fatalf("pdfsig: %d signatures", len(res))
	}
	res[0].WantValid(t, false)
	res[1].WantValid(t, true)
	if res[0].Field == res[1].Field {
		t.Errorf("both signatures in field %q", res[0].Field)
	}
	for i, c := range []*x509.Certificate{c1.Cert, c2.Cert} {
		if !strings.Contains(res[i].Text, c.Subject.CommonName) {
			t.Errorf("pdfsig signature %d is not by %s:\n%s", i+1, c.Subject.CommonName, res[i].Text)
		}
	}
	// B-LT on top extends the existing DSS with the second signer's material.
	thrice := pades(t, second, once, formats.LevelLT, formats.PDFOptions{Name: c2.Cert.Subject.CommonName})
	dss := qpdfDSS(t, thrice)
	if !containsBytes(dss["Certs"], c1.Cert.Raw) || !containsBytes(dss["Certs"], c2.Cert.Raw) || len(dss["OCSPs"]) != 2 {
		t.Errorf("DSS after two B-LT signatures: %d certs, %d OCSP responses", len(dss["Certs"]), len(dss["OCSPs"]))
	}
	for _, r := range e.pdfsig(t, thrice) {
		r.WantValid(t, false)
	}
}

// TestPAdESLargeDocument signs a 1 MB PDF at B-LT.
func TestPAdESLargeDocument(t *testing.T) {
	e := newEnv(t, testkeys.Soft(t))
	s, cert := e.signer(t, "resident-1")
	doc := document(t, 1<<20)
	if len(doc) < 1<<20 {
		t.Fatalf("document is %d bytes", len(doc))
	}
	signed := pades(t, s, doc, formats.LevelLT, formats.PDFOptions{Name: cert.Cert.Subject.CommonName})
	lastSignature(t, signed, 1)
	e.pdfsig(t, signed)[0].WantValid(t, false)
	e.checkDSS(t, signed, s, cert.Cert)
	t.Log(fmt.Sprintf("signed %d bytes into %d", len(doc), len(signed)))
}
