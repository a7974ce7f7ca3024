package verify_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"eidp/signing/pdf"
	"eidp/signing/verify"
)

// withDocumentTimestamp appends a document time-stamp (SubFilter
// ETSI.RFC3161, EN 319 142-1 §5.4.3) to doc. signing/pdf prepares CAdES
// signatures only, so the prepared update's SubFilter is rewritten before
// the ByteRange is hashed.
func (f *fixture) withDocumentTimestamp(t *testing.T, doc []byte) []byte {
	t.Helper()
	d, err := pdf.Open(bytes.NewReader(doc), int64(len(doc)), pdf.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := d.Prepare(pdf.SignOptions{FieldName: "DocTimeStamp"})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := p.WriteTo(&out, []byte{0x30, 0x00}); err != nil {
		t.Fatal(err)
	}
	b := out.Bytes()
	from, to := []byte("/SubFilter /ETSI.CAdES.detached"), []byte("/SubFilter /ETSI.RFC3161       ")
	i := bytes.LastIndex(b, from)
	if i < len(doc) {
		t.Fatal("no SubFilter in the update")
	}
	copy(b[i:], to)
	br := p.ByteRange()
	h := sha256.New()
	h.Write(b[br[0] : br[0]+br[1]])
	h.Write(b[br[2] : br[2]+br[3]])
	tok, err := f.stamp(context.Background(), crypto.SHA256, h.Sum(nil))
	if err != nil {
		t.Fatal(err)
	}
	hexTok := hex.EncodeToString(tok)
	if int64(len(hexTok)) > br[2]-br[1]-2 {
		t.Fatal("token larger than /Contents")
	}
	copy(b[br[1]+1:], hexTok)
	for j := br[1] + 1 + int64(len(hexTok)); j < br[2]-1; j++ {
		b[j] = '0'
	}
	return b
}

func TestDocumentTimestamp(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	signed := f.pades(t, basePDF(t), false)
	stamped := f.withDocumentTimestamp(t, signed)

	rep, err := f.v.VerifyPDF(ctx, bytes.NewReader(stamped), int64(len(stamped)))
	if err != nil {
		t.Fatal(err)
	}
	want(t, rep, verify.TotalPassed, "")
	if len(rep.Signatures) != 2 {
		t.Fatalf("%d entries", len(rep.Signatures))
	}
	ts := rep.Signatures[1]
	if ts.Level != "document time-stamp" || ts.SignerName != "eidp test TSA" || ts.TimestampTime.IsZero() || ts.Coverage != "whole document" {
		t.Errorf("document time-stamp %+v", ts)
	}
	if rep.Signatures[0].Coverage != "revision 1 of 2" || rep.Signatures[0].Level != "B-B" {
		t.Errorf("signature %+v", rep.Signatures[0])
	}

	// The document time-stamp proves the B-B signature existed before a
	// later revocation.
	f.status.set(f.cert, verify.Status{Known: true, Revoked: true, RevokedAt: time.Now().Add(time.Minute)})
	later := &verify.Verifier{Roots: f.v.Roots, Status: f.status, Now: func() time.Time { return time.Now().Add(time.Hour) }}
	rep, err = later.VerifyPDF(ctx, bytes.NewReader(stamped), int64(len(stamped)))
	if err != nil {
		t.Fatal(err)
	}
	want(t, rep, verify.TotalPassed, "")
	rep, err = later.VerifyPDF(ctx, bytes.NewReader(signed), int64(len(signed)))
	if err != nil {
		t.Fatal(err)
	}
	want(t, rep, verify.Indeterminate, verify.RevokedNoPOE)

	// A document time-stamp over other bytes fails.
	tampered := bytes.Clone(stamped)
	i := bytes.LastIndex(tampered, []byte("DocTimeStamp)"))
	tampered[i] = 'X' // the field name, in the time-stamp's own update
	rep, err = f.v.VerifyPDF(ctx, bytes.NewReader(tampered), int64(len(tampered)))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Signatures[1].Indication != verify.TotalFailed || rep.Signatures[1].SubIndication != verify.HashFailure || rep.Indication != verify.TotalFailed {
		t.Errorf("tampered: %+v", rep)
	}
}
