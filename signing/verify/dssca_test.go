package verify_test

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"testing"

	"eidp/hsm"
	"eidp/hsm/keyring"
	"eidp/hsm/testkeys"
	"eidp/internal/testenv"
	"eidp/signing/ca"
	"eidp/signing/cms"
	"eidp/signing/cms/cmstest"
	"eidp/signing/pdf"
	"eidp/signing/tsa"
	"eidp/signing/verify"
)

// Our own CA's OCSP responses (a delegated responder named by key hash,
// its certificate embedded) are B-LT material for the verifier, with the
// CA's keys in the soft backend and in SoftHSM2.
func TestDSSFromOurCA(t *testing.T) {
	ctx := context.Background()
	for name, open := range map[string]func(t *testing.T) hsm.KeyManager{
		"soft":     func(t *testing.T) hsm.KeyManager { return testkeys.Soft(t) },
		"SoftHSM2": func(t *testing.T) hsm.KeyManager { return testkeys.SoftHSM(t) },
	} {
		t.Run(name, func(t *testing.T) {
			km := open(t)
			t.Cleanup(func() { km.Close() })
			d := testenv.OpenDB(t, testenv.SQLite(t))
			authority, err := ca.New(d, keyring.New(d, km), km, ca.Config{BaseURL: "http://localhost:8080"})
			if err != nil {
				t.Fatal(err)
			}
			h, err := authority.Init(ctx)
			if err != nil {
				t.Fatal(err)
			}
			cert, err := authority.Issue(ctx, ca.IssueRequest{ResidentID: "resident-1", GivenName: "Tai Man", FamilyName: "Chan", Level: ca.LevelHigh})
			if err != nil {
				t.Fatal(err)
			}
			signer, _, err := authority.Signer(ctx, cert.ID)
			if err != nil {
				t.Fatal(err)
			}
			tsaSigner, tsaCert, tsaChain, err := authority.TSA(ctx)
			if err != nil {
				t.Fatal(err)
			}
			stamper, err := tsa.New(tsaSigner, tsaCert, tsaChain, tsaPolicy)
			if err != nil {
				t.Fatal(err)
			}
			signed := padesWith(t, basePDF(t), signer, cert.Cert, cert.Chain, func(sd []byte) []byte {
				sv, err := cms.SignatureValue(sd)
				if err != nil {
					t.Fatal(err)
				}
				digest := sha256.Sum256(sv)
				tok, err := stamper.Stamp(ctx, crypto.SHA256, digest[:], nil, true)
				if err != nil {
					t.Fatal(err)
				}
				out, err := cms.AddSignatureTimestamp(sd, tok)
				if err != nil {
					t.Fatal(err)
				}
				return out
			})
			ocspDER, err := authority.OCSPResponse(ctx, cert.Cert)
			if err != nil {
				t.Fatal(err)
			}
			var certs [][]byte
			for _, c := range []*x509.Certificate{cert.Cert, h.Issuing, h.Root, h.TSA} {
				certs = append(certs, c.Raw)
			}
			doc := withDSS(t, signed, pdf.DSS{Certs: certs, OCSPs: [][]byte{ocspDER}})
			rep, s := verifyPDF(t, &verify.Verifier{Roots: cmstest.Pool(h.Root)}, doc)
			if rep.Indication != verify.TotalPassed || s.Level != verify.LevelLT || s.StatusSource != verify.StatusFromDSSOCSP || s.CertificateStatus != "good" {
				t.Errorf("%s/%s (%s) level %q status %q from %q", rep.Indication, rep.SubIndication, rep.Reason, s.Level, s.CertificateStatus, s.StatusSource)
			}
		})
	}
}
