package verify

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"eidp/signing/cms"
	"eidp/signing/pdf"
	"eidp/signing/tsa"
)

// PDF SubFilters (ETSI EN 319 142-1 §5.1, ISO 32000-2 §12.8.3).
const (
	subFilterCAdES     = "ETSI.CAdES.detached"
	subFilterPKCS7     = "adbe.pkcs7.detached"
	subFilterTimestamp = "ETSI.RFC3161"
)

// VerifyPDF validates every signature and document time-stamp of a PDF of
// size bytes. A file that is not a PDF gives ErrFormat; one without
// signatures ErrNoSignature.
func (v *Verifier) VerifyPDF(ctx context.Context, r io.ReaderAt, size int64) (Report, error) {
	doc, err := pdf.Open(r, size, pdf.Limits{})
	if err != nil {
		return Report{}, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	sigs, err := doc.Signatures()
	if err != nil {
		return Report{}, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	if len(sigs) == 0 {
		return Report{}, ErrNoSignature
	}
	rep := Report{Format: FormatPAdES, ValidationTime: v.now()}
	// EN 319 142-1 §5.4: the DSS holds validation material (B-LT). One we
	// cannot read is left out and named in each signature's warnings.
	dss, dssErr := doc.DSS()
	docDSS := parseDSS(dss.Certs, dss.OCSPs, dss.CRLs)

	// Revisions, counted by the signed ones and the file's end.
	var ends []int64
	for _, s := range sigs {
		ends = append(ends, s.RevisionEnd)
	}
	if !slices.Contains(ends, size) {
		ends = append(ends, size)
	}
	slices.Sort(ends)
	ends = slices.Compact(ends)

	// Document time-stamps first: each is a POE for the revisions it covers.
	type docTS struct {
		reportIndex int
		covers      int64 // signatures ending at or before this offset
		genTime     time.Time
	}
	reports := make([]SignatureReport, len(sigs))
	var docTimestamps []docTS
	for i, s := range sigs {
		reports[i] = SignatureReport{FieldName: s.FieldName, Coverage: coverage(s, ends)}
		if s.SubFilter != subFilterTimestamp {
			continue
		}
		t := v.documentTimestamp(ctx, r, s, &reports[i])
		if reports[i].Indication == TotalPassed {
			docTimestamps = append(docTimestamps, docTS{i, s.ByteRange[1], t})
		}
	}
	for i, s := range sigs {
		if s.SubFilter == subFilterTimestamp {
			continue
		}
		ev := v.pdfEvidence(r, s)
		if dssErr != nil {
			ev.warnings = append(ev.warnings, fmt.Sprintf("the document security store (DSS) was not used: %v", dssErr))
		} else if ev.dss = docDSS.forSignature(dss, s.VRIKey()); ev.dss != nil {
			// DSS certificates may complete the signer's and the TSA's paths.
			ev.embedded = slices.Concat(ev.embedded, ev.dss.certs)
		}
		for _, ts := range docTimestamps {
			if ts.reportIndex != i && s.RevisionEnd <= ts.covers {
				ev.poe = append(ev.poe, ts.genTime)
			}
		}
		reports[i].Level = level(ev)
		v.evaluate(ctx, ev, &reports[i])
	}
	rep.Signatures = reports
	rep.conclude()
	return rep, nil
}

// coverage names the part of the file a signature covers.
func coverage(s pdf.Signature, ends []int64) string {
	if s.CoversWholeDocument {
		return "whole document"
	}
	return fmt.Sprintf("revision %d of %d", slices.Index(ends, s.RevisionEnd)+1, len(ends))
}

// pdfEvidence checks a PAdES (or adbe.pkcs7.detached) signature's form and
// digest and gathers what the common validation needs.
func (v *Verifier) pdfEvidence(r io.ReaderAt, s pdf.Signature) evidence {
	ev := evidence{claimed: s.SigningTime}
	switch {
	case s.SubFilter != subFilterCAdES && s.SubFilter != subFilterPKCS7:
		ev.integrity = failed(FormatFailure, "SubFilter %q is not supported", s.SubFilter)
		return ev
	case s.ByteRange[0] != 0:
		// The signed bytes must be a prefix of the file, so that whatever
		// follows is an incremental update.
		ev.integrity = failed(FormatFailure, "the /ByteRange %v does not start at the beginning of the file", s.ByteRange)
		return ev
	}
	sd, err := cms.Parse(s.Contents)
	if err != nil {
		ev.integrity = failed(FormatFailure, "%v", err)
		return ev
	}
	if len(sd.Signers) != 1 || sd.Content != nil {
		// EN 319 142-1 §6.2.1: one SignerInfo, detached content.
		ev.integrity = failed(FormatFailure, "the CMS has %d signers and %s content; PAdES wants one signer and detached content",
			len(sd.Signers), map[bool]string{true: "encapsulated", false: "no"}[sd.Content != nil])
		return ev
	}
	si := sd.Signers[0]
	var digest []byte
	if si.DigestAlgorithm.Available() {
		if digest, err = s.Digest(r, si.DigestAlgorithm); err != nil {
			ev.integrity = failed(FormatFailure, "%v", err)
			return ev
		}
	}
	claimed := ev.claimed
	ev = v.cmsEvidence(sd, 0, digest)
	// PAdES puts the claimed time in /M (EN 319 142-1 §5.3: no
	// signing-time attribute); a PKCS#7 signature may have the attribute.
	ev.claimed = claimed
	if !si.SigningTime.IsZero() {
		ev.claimed = si.SigningTime
	}
	return ev
}

// documentTimestamp validates a document time-stamp (ETSI EN 319 142-1
// §5.4.3): an RFC 3161 token over the ByteRange. It returns the token's
// time.
func (v *Verifier) documentTimestamp(ctx context.Context, r io.ReaderAt, s pdf.Signature, rep *SignatureReport) time.Time {
	rep.Level = "document time-stamp"
	o := func() *outcome {
		if s.ByteRange[0] != 0 {
			return failed(FormatFailure, "the /ByteRange %v does not start at the beginning of the file", s.ByteRange)
		}
		tok, err := tsa.ParseToken(s.Contents)
		if err != nil {
			return failed(FormatFailure, "%v", err)
		}
		rep.TimestampTime = tok.GenTime
		if tok.Certificate != nil {
			rep.SignerName = displayName(tok.Certificate)
			rep.SignerSerial = fmt.Sprintf("%X", tok.Certificate.SerialNumber)
		}
		if !tok.Hash.Available() {
			return indeterminate(CryptoConstraintsFailure, "imprint hash %v is not supported", tok.Hash)
		}
		digest, err := s.Digest(r, tok.Hash)
		if err != nil {
			return failed(FormatFailure, "%v", err)
		}
		if !bytes.Equal(digest, tok.HashedMessage) {
			return failed(HashFailure, "the time-stamp's message imprint does not match the document")
		}
		if _, err := v.checkToken(ctx, tok, digest, nil); err != nil {
			return tokenFailure(tok, v.roots(), err)
		}
		return nil
	}()
	if o != nil {
		rep.Indication, rep.SubIndication, rep.Reason = o.ind, o.sub, o.reason
		return time.Time{}
	}
	rep.Indication = TotalPassed
	return rep.TimestampTime
}
