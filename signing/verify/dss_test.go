package verify_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"eidp/signing/cms/cmstest"
	"eidp/signing/pdf"
	"eidp/signing/verify"
)

// ltFixture is a B-T signed PDF and what a B-LT DSS for it is made of.
type ltFixture struct {
	*fixture
	signedBT, signedBB []byte
	// after is a time after the signature's time-stamp.
	after time.Time
	// responder is a delegated OCSP responder of the issuing CA.
	responder    *x509.Certificate
	responderKey crypto.Signer
}

func newLTFixture(t *testing.T) *ltFixture {
	t.Helper()
	f := &ltFixture{fixture: newFixture(t)}
	f.signedBT = f.pades(t, basePDF(t), true)
	f.signedBB = f.pades(t, basePDF(t), false)
	f.after = time.Now()
	f.responderKey = cmstest.NewKey(t, "P-256")
	f.responder = f.pki.Issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "eidp test OCSP responder"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}}, f.responderKey.Public())
	return f
}

// ocspBy makes an OCSP response about f.cert, issued for issuer and
// signed by responder's key; embed puts responder in the response.
func (f *ltFixture) ocspBy(t *testing.T, issuer, responder *x509.Certificate, key crypto.Signer, embed bool, tmpl ocsp.Response) []byte {
	t.Helper()
	if tmpl.SerialNumber == nil {
		tmpl.SerialNumber = f.cert.SerialNumber
	}
	if tmpl.ThisUpdate.IsZero() {
		tmpl.ThisUpdate, tmpl.NextUpdate = f.after, f.after.Add(time.Hour)
	}
	if embed {
		tmpl.Certificate = responder
	}
	der, err := ocsp.CreateResponse(issuer, responder, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// good is a good OCSP response signed by the issuing CA itself.
func (f *ltFixture) good(t *testing.T) []byte {
	return f.ocspBy(t, f.pki.Intermediate, f.pki.Intermediate, f.pki.IntKey, false, ocsp.Response{Status: ocsp.Good})
}

func (f *ltFixture) crl(t *testing.T, issuer *x509.Certificate, key crypto.Signer, thisUpdate time.Time, revoked ...x509.RevocationListEntry) []byte {
	t.Helper()
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(7), ThisUpdate: thisUpdate,
		NextUpdate: thisUpdate.Add(24 * time.Hour), RevokedCertificateEntries: revoked}, issuer, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// path is the signer's certificate path, root included, and the TSA's.
func (f *ltFixture) path() [][]byte {
	return [][]byte{f.cert.Raw, f.pki.Intermediate.Raw, f.pki.Root.Raw, f.tsa.Certificate.Raw}
}

func withDSS(t *testing.T, doc []byte, dss pdf.DSS) []byte {
	t.Helper()
	d, err := pdf.Open(bytes.NewReader(doc), int64(len(doc)), pdf.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := d.AppendDSS(&out, dss); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func verifyPDF(t *testing.T, v *verify.Verifier, doc []byte) (verify.Report, verify.SignatureReport) {
	t.Helper()
	rep, err := v.VerifyPDF(context.Background(), bytes.NewReader(doc), int64(len(doc)))
	if err != nil {
		t.Fatalf("VerifyPDF: %v", err)
	}
	if len(rep.Signatures) != 1 {
		t.Fatalf("%d signatures reported", len(rep.Signatures))
	}
	return rep, rep.Signatures[0]
}

func TestDSSMaterialMakesBLT(t *testing.T) {
	f := newLTFixture(t)
	other := cmstest.NewPKI(t) // same subject names as f.pki, other keys
	otherResponderKey := cmstest.NewKey(t, "P-256")
	otherResponder := other.Issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "eidp test OCSP responder"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}}, otherResponderKey.Public())
	noEKUKey := cmstest.NewKey(t, "P-256")
	noEKU := f.pki.Issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "eidp test OCSP responder"},
		KeyUsage: x509.KeyUsageDigitalSignature}, noEKUKey.Public())
	someoneElse := f.pki.IssueSigner(t, f.signer.Public(), "Somebody Else")
	revokedAt := f.after.Add(-10 * time.Minute) // before the claimed signing time (a minute before f.after)
	noSource := &verify.Verifier{Roots: cmstest.Pool(f.pki.Root)}

	for _, tc := range []struct {
		name   string
		doc    []byte // default f.signedBT
		dss    pdf.DSS
		ind    verify.Indication
		sub    verify.SubIndication
		level  string
		status string
		source string
	}{
		{name: "an OCSP response from the issuing CA", dss: pdf.DSS{Certs: f.path(), OCSPs: [][]byte{f.good(t)}},
			ind: verify.TotalPassed, level: "B-LT", status: "good", source: verify.StatusFromDSSOCSP},
		{name: "a CRL of the issuing CA", dss: pdf.DSS{Certs: f.path(), CRLs: [][]byte{f.crl(t, f.pki.Intermediate, f.pki.IntKey, f.after)}},
			ind: verify.TotalPassed, level: "B-LT", status: "good", source: verify.StatusFromDSSCRL},
		{name: "a delegated responder embedded in the response",
			dss: pdf.DSS{Certs: f.path(), OCSPs: [][]byte{f.ocspBy(t, f.pki.Intermediate, f.responder, f.responderKey, true, ocsp.Response{Status: ocsp.Good})}},
			ind: verify.TotalPassed, level: "B-LT", status: "good", source: verify.StatusFromDSSOCSP},
		{name: "a delegated responder whose certificate is in the DSS",
			dss: pdf.DSS{Certs: append(f.path(), f.responder.Raw), OCSPs: [][]byte{f.ocspBy(t, f.pki.Intermediate, f.responder, f.responderKey, false, ocsp.Response{Status: ocsp.Good})}},
			ind: verify.TotalPassed, level: "B-LT", status: "good", source: verify.StatusFromDSSOCSP},
		{name: "a DSS without the root is not B-LT", dss: pdf.DSS{Certs: f.path()[:2], OCSPs: [][]byte{f.good(t)}},
			ind: verify.TotalPassed, level: "B-T", status: "good", source: verify.StatusFromDSSOCSP},
		{name: "a B-B signature with a current OCSP response", doc: f.signedBB, dss: pdf.DSS{Certs: f.path(), OCSPs: [][]byte{f.good(t)}},
			ind: verify.TotalPassed, level: "B-B", status: "good", source: verify.StatusFromDSSOCSP},

		{name: "an OCSP response revoking before the time-stamp",
			dss: pdf.DSS{Certs: f.path(), OCSPs: [][]byte{f.ocspBy(t, f.pki.Intermediate, f.pki.Intermediate, f.pki.IntKey, false,
				ocsp.Response{Status: ocsp.Revoked, RevokedAt: revokedAt, RevocationReason: ocsp.KeyCompromise})}},
			ind: verify.TotalFailed, sub: verify.Revoked, level: "B-LT", status: "revoked", source: verify.StatusFromDSSOCSP},
		{name: "a CRL revoking before the time-stamp",
			dss: pdf.DSS{Certs: f.path(), CRLs: [][]byte{f.crl(t, f.pki.Intermediate, f.pki.IntKey, f.after,
				x509.RevocationListEntry{SerialNumber: f.cert.SerialNumber, RevocationTime: revokedAt, ReasonCode: 1})}},
			ind: verify.TotalFailed, sub: verify.Revoked, level: "B-LT", status: "revoked", source: verify.StatusFromDSSCRL},
		{name: "a revocation among good answers wins",
			dss: pdf.DSS{Certs: f.path(), OCSPs: [][]byte{f.good(t)}, CRLs: [][]byte{f.crl(t, f.pki.Intermediate, f.pki.IntKey, f.after,
				x509.RevocationListEntry{SerialNumber: f.cert.SerialNumber, RevocationTime: revokedAt})}},
			ind: verify.TotalFailed, sub: verify.Revoked, level: "B-LT", status: "revoked", source: verify.StatusFromDSSCRL},

		{name: "a forged OCSP response signed by an unrelated key",
			dss: pdf.DSS{Certs: f.path(), OCSPs: [][]byte{f.ocspBy(t, f.pki.Intermediate, other.Intermediate, other.IntKey, false, ocsp.Response{Status: ocsp.Good})}},
			ind: verify.Indeterminate, sub: verify.TryLater, level: "B-T", status: "unknown"},
		{name: "a forged OCSP response embedding its unrelated responder",
			dss: pdf.DSS{Certs: f.path(), OCSPs: [][]byte{f.ocspBy(t, f.pki.Intermediate, otherResponder, otherResponderKey, true, ocsp.Response{Status: ocsp.Good})}},
			ind: verify.Indeterminate, sub: verify.TryLater, level: "B-T", status: "unknown"},
		{name: "a responder without id-kp-OCSPSigning",
			dss: pdf.DSS{Certs: f.path(), OCSPs: [][]byte{f.ocspBy(t, f.pki.Intermediate, noEKU, noEKUKey, true, ocsp.Response{Status: ocsp.Good})}},
			ind: verify.Indeterminate, sub: verify.TryLater, level: "B-T", status: "unknown"},
		{name: "a forged CRL with the issuer's name",
			dss: pdf.DSS{Certs: f.path(), CRLs: [][]byte{f.crl(t, other.Intermediate, other.IntKey, f.after)}},
			ind: verify.Indeterminate, sub: verify.TryLater, level: "B-T", status: "unknown"},
		{name: "an OCSP response about another certificate",
			dss: pdf.DSS{Certs: f.path(), OCSPs: [][]byte{f.ocspBy(t, f.pki.Intermediate, f.pki.Intermediate, f.pki.IntKey, false,
				ocsp.Response{Status: ocsp.Good, SerialNumber: someoneElse.SerialNumber})}},
			ind: verify.Indeterminate, sub: verify.TryLater, level: "B-T", status: "unknown"},
		{name: "an OCSP response by the issuing CA about another CA's certificate with the same serial",
			dss: pdf.DSS{Certs: f.path(), OCSPs: [][]byte{f.ocspBy(t, other.Intermediate, f.pki.Intermediate, f.pki.IntKey, false, ocsp.Response{Status: ocsp.Good})}},
			ind: verify.Indeterminate, sub: verify.TryLater, level: "B-T", status: "unknown"},
		{name: "an OCSP response that says unknown",
			dss: pdf.DSS{Certs: f.path(), OCSPs: [][]byte{f.ocspBy(t, f.pki.Intermediate, f.pki.Intermediate, f.pki.IntKey, false, ocsp.Response{Status: ocsp.Unknown})}},
			ind: verify.Indeterminate, sub: verify.TryLater, level: "B-T", status: "unknown"},
		{name: "an OCSP response from before the time-stamp",
			dss: pdf.DSS{Certs: f.path(), OCSPs: [][]byte{f.ocspBy(t, f.pki.Intermediate, f.pki.Intermediate, f.pki.IntKey, false,
				ocsp.Response{Status: ocsp.Good, ThisUpdate: f.after.Add(-time.Hour), NextUpdate: f.after.Add(time.Hour)})}},
			ind: verify.Indeterminate, sub: verify.TryLater, level: "B-T", status: "unknown"},
		{name: "a CRL from before the time-stamp",
			dss: pdf.DSS{Certs: f.path(), CRLs: [][]byte{f.crl(t, f.pki.Intermediate, f.pki.IntKey, f.after.Add(-time.Hour))}},
			ind: verify.Indeterminate, sub: verify.TryLater, level: "B-T", status: "unknown"},
		{name: "a DSS with certificates only", dss: pdf.DSS{Certs: f.path()},
			ind: verify.Indeterminate, sub: verify.TryLater, level: "B-T", status: "unknown"},
		{name: "garbage in every array", dss: pdf.DSS{Certs: [][]byte{{1, 2}}, OCSPs: [][]byte{{3}}, CRLs: [][]byte{{0x30, 0}}},
			ind: verify.Indeterminate, sub: verify.TryLater, level: "B-T", status: "unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := tc.doc
			if doc == nil {
				doc = f.signedBT
			}
			rep, s := verifyPDF(t, noSource, withDSS(t, doc, tc.dss))
			if rep.Indication != tc.ind || rep.SubIndication != tc.sub || s.Level != tc.level ||
				s.CertificateStatus != tc.status || s.StatusSource != tc.source {
				t.Errorf("got %s/%s level %q status %q from %q (%s); want %s/%s level %q status %q from %q",
					rep.Indication, rep.SubIndication, s.Level, s.CertificateStatus, s.StatusSource, rep.Reason,
					tc.ind, tc.sub, tc.level, tc.status, tc.source)
			}
			if tc.sub == verify.TryLater && !strings.Contains(s.Reason, "no revocation status source") {
				t.Errorf("reason %q does not say why", s.Reason)
			}
		})
	}

	t.Run("without the DSS the same signature is B-T with an unknown status", func(t *testing.T) {
		rep, s := verifyPDF(t, noSource, f.signedBT)
		if rep.SubIndication != verify.TryLater || s.Level != "B-T" || s.StatusSource != "" {
			t.Errorf("%s/%s level %q source %q", rep.Indication, rep.SubIndication, s.Level, s.StatusSource)
		}
	})
}

// A revocation after the time-stamp leaves the signature valid: the DSS
// proves the signature existed first.
func TestDSSRevocationAfterTheTimestamp(t *testing.T) {
	f := newLTFixture(t)
	later := time.Now().Add(3 * time.Second)
	doc := withDSS(t, f.signedBT, pdf.DSS{Certs: f.path(), OCSPs: [][]byte{f.ocspBy(t, f.pki.Intermediate, f.pki.Intermediate, f.pki.IntKey, false,
		ocsp.Response{Status: ocsp.Revoked, RevokedAt: later, ThisUpdate: later.Add(time.Second), NextUpdate: later.Add(time.Hour)})}})
	rep, s := verifyPDF(t, &verify.Verifier{Roots: cmstest.Pool(f.pki.Root)}, doc)
	if rep.Indication != verify.TotalPassed || s.Level != "B-LT" || s.CertificateStatus != "revoked" || len(s.Warnings) == 0 {
		t.Errorf("%s/%s level %q status %q warnings %q", rep.Indication, rep.SubIndication, s.Level, s.CertificateStatus, s.Warnings)
	}
}

func TestDSSAndAStatusSource(t *testing.T) {
	f := newLTFixture(t)
	goodDSS := withDSS(t, f.signedBT, pdf.DSS{Certs: f.path(), OCSPs: [][]byte{f.good(t)}})
	revokedDSS := withDSS(t, f.signedBT, pdf.DSS{Certs: f.path(), OCSPs: [][]byte{f.ocspBy(t, f.pki.Intermediate, f.pki.Intermediate, f.pki.IntKey, false,
		ocsp.Response{Status: ocsp.Revoked, RevokedAt: f.after.Add(-10 * time.Minute)})}})
	unknowing := verify.StatusFunc(func(context.Context, *x509.Certificate, *x509.Certificate) (verify.Status, error) {
		return verify.Status{}, nil
	})
	for _, tc := range []struct {
		name   string
		src    verify.StatusSource
		doc    []byte
		ind    verify.Indication
		level  string
		source string
	}{
		{"the source answers", f.status, goodDSS, verify.TotalPassed, "B-LT", verify.StatusFromSource},
		{"the source answers and there is no DSS", f.status, f.signedBT, verify.TotalPassed, "B-T", verify.StatusFromSource},
		{"the source does not know the certificate", unknowing, goodDSS, verify.TotalPassed, "B-LT", verify.StatusFromDSSOCSP},
		{"the source says good, the DSS revoked", f.status, revokedDSS, verify.TotalFailed, "B-LT", verify.StatusFromDSSOCSP},
		{"neither knows", unknowing, f.signedBT, verify.Indeterminate, "B-T", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, s := verifyPDF(t, &verify.Verifier{Roots: cmstest.Pool(f.pki.Root), Status: tc.src}, tc.doc)
			if rep.Indication != tc.ind || s.Level != tc.level || s.StatusSource != tc.source {
				t.Errorf("%s/%s level %q source %q (%s); want %s level %q source %q",
					rep.Indication, rep.SubIndication, s.Level, s.StatusSource, rep.Reason, tc.ind, tc.level, tc.source)
			}
		})
	}

	t.Run("the report names the source in JSON", func(t *testing.T) {
		rep, _ := verifyPDF(t, &verify.Verifier{Roots: cmstest.Pool(f.pki.Root)}, goodDSS)
		b, err := json.Marshal(rep)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `"status_source":"ocsp-dss"`) || !strings.Contains(string(b), `"level":"B-LT"`) {
			t.Errorf("JSON %s", b)
		}
	})
}

// A DSS that cannot be read is not used, and the report says so; the
// signature is still validated.
func TestMalformedDSSIsNamedInWarnings(t *testing.T) {
	f := newLTFixture(t)
	doc := withDSS(t, f.signedBT, pdf.DSS{Certs: f.path(), OCSPs: [][]byte{f.good(t)}})
	// Turn the /Certs references into strings of the same length, so the
	// offsets stay right and only the DSS is wrong.
	update := doc[len(f.signedBT):]
	m := regexp.MustCompile(`/Certs \[([0-9 R]+)\]`).FindSubmatchIndex(update)
	if m == nil {
		t.Fatalf("no /Certs array in the DSS update:\n%s", update)
	}
	bad := bytes.Clone(doc)
	start, end := len(f.signedBT)+m[2], len(f.signedBT)+m[3]
	copy(bad[start:end], "("+strings.Repeat("x", end-start-2)+")")

	for name, tc := range map[string]struct {
		v    *verify.Verifier
		ind  verify.Indication
		from string
	}{
		"without a status source": {&verify.Verifier{Roots: cmstest.Pool(f.pki.Root)}, verify.Indeterminate, ""},
		"with a status source":    {&verify.Verifier{Roots: cmstest.Pool(f.pki.Root), Status: f.status}, verify.TotalPassed, verify.StatusFromSource},
	} {
		t.Run(name, func(t *testing.T) {
			rep, s := verifyPDF(t, tc.v, bad)
			if rep.Indication != tc.ind || s.Level != "B-T" || s.StatusSource != tc.from ||
				len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], "DSS") || !strings.Contains(s.Warnings[0], "malformed") {
				t.Errorf("%s/%s level %q source %q warnings %q", rep.Indication, rep.SubIndication, s.Level, s.StatusSource, s.Warnings)
			}
		})
	}
}
