package verify

import (
	"bytes"
	"context"
	"crypto"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"io"

	"eidp/signing/cms"
)

// VerifyCMS validates a CAdES (CMS SignedData) signature, DER or PEM. For
// a detached signature content is the signed content; for one that
// encapsulates its content, content may be nil (if given, it must be the
// encapsulated content). Input that is not CMS at all gives ErrFormat.
func (v *Verifier) VerifyCMS(ctx context.Context, signature []byte, content io.Reader) (Report, error) {
	if Sniff(signature) != "cms" {
		return Report{}, fmt.Errorf("%w: not a CMS SignedData", ErrFormat)
	}
	if b, _ := pem.Decode(bytes.TrimSpace(signature)); b != nil {
		signature = b.Bytes
	}
	rep := Report{Format: FormatCAdES, ValidationTime: v.now()}
	sd, err := cms.Parse(signature)
	if err != nil {
		rep.Signatures = []SignatureReport{{Indication: TotalFailed, SubIndication: FormatFailure, Reason: err.Error()}}
		rep.conclude()
		return rep, nil
	}
	if len(sd.Signers) == 0 {
		return Report{}, fmt.Errorf("%w: SignedData without signers", ErrNoSignature)
	}
	digests, err := contentDigests(sd, content)
	if err != nil {
		return Report{}, err
	}
	for i := range sd.Signers {
		sr := SignatureReport{Coverage: "whole document"}
		if digests == nil {
			sr.Indication, sr.SubIndication, sr.Reason = Indeterminate, SignedDataNotFound, "detached signature: the signed content was not given"
		} else {
			ev := v.cmsEvidence(sd, i, digests[sd.Signers[i].DigestAlgorithm])
			ev.claimed = sd.Signers[i].SigningTime
			sr.Level = level(ev)
			v.evaluate(ctx, ev, &sr)
		}
		rep.Signatures = append(rep.Signatures, sr)
	}
	rep.conclude()
	return rep, nil
}

// contentDigests hashes the content once with every signer's digest
// algorithm: the detached content if given, else the encapsulated one.
// Nil means there is no content to hash.
func contentDigests(sd *cms.SignedData, content io.Reader) (map[crypto.Hash][]byte, error) {
	if content == nil && sd.Content == nil {
		return nil, nil
	}
	if content == nil {
		content = bytes.NewReader(sd.Content)
	}
	hashes := map[crypto.Hash]hash.Hash{}
	var writers []io.Writer
	for _, si := range sd.Signers {
		if _, ok := hashes[si.DigestAlgorithm]; ok || !si.DigestAlgorithm.Available() {
			continue
		}
		h := si.DigestAlgorithm.New()
		hashes[si.DigestAlgorithm] = h
		writers = append(writers, h)
	}
	if _, err := io.Copy(io.MultiWriter(writers...), content); err != nil {
		return nil, fmt.Errorf("verify: reading the signed content: %w", err)
	}
	out := map[crypto.Hash][]byte{}
	for alg, h := range hashes {
		out[alg] = h.Sum(nil)
	}
	return out, nil
}

// cmsEvidence checks signer i of sd against the content digest (nil when
// its algorithm is not available) and gathers what the common validation
// needs. The signature time-stamp covers the signature value (RFC 3161
// Appendix A).
func (v *Verifier) cmsEvidence(sd *cms.SignedData, i int, digest []byte) evidence {
	si := &sd.Signers[i]
	ev := evidence{cert: si.Certificate, embedded: sd.Certificates, timestamped: si.Signature}
	if si.Timestamp != nil {
		ev.timestamps = [][]byte{si.Timestamp}
	}
	if si.Certificate != nil && !si.SigningCertV2 && !si.SigningCertV1 {
		// EN 319 122-1 §5.2.2 requires it in CAdES and PAdES baselines.
		ev.warnings = append(ev.warnings, "no signing-certificate-v2 attribute binds the signing certificate")
	}
	switch {
	case digest == nil:
		ev.integrity = indeterminate(CryptoConstraintsFailure, "digest algorithm %v is not supported", si.DigestAlgorithm)
		return ev
	case si.Certificate == nil:
		return ev // NO_SIGNING_CERTIFICATE_FOUND
	case !bytes.Equal(si.MessageDigest, digest):
		ev.integrity = failed(HashFailure, "the signed content's digest does not match the signature's message-digest")
		return ev
	}
	// Verify this signer alone: cms checks every SignerInfo it holds.
	one := *sd
	one.Signers = sd.Signers[i : i+1]
	if err := one.Verify(digest); err != nil {
		switch {
		case errors.Is(err, cms.ErrUnsupportedAlgorithm):
			ev.integrity = indeterminate(CryptoConstraintsFailure, "%v", err)
		case errors.Is(err, cms.ErrMalformed):
			ev.integrity = failed(FormatFailure, "%v", err)
		default:
			ev.integrity = failed(SigCryptoFailure, "%v", err)
		}
	}
	return ev
}

func level(ev evidence) string {
	if len(ev.timestamps) > 0 {
		return "B-T"
	}
	return "B-B"
}
