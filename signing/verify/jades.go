package verify

import (
	"context"
	"errors"
	"fmt"

	"eidp/signing/jades"
)

// VerifyJAdES validates a JAdES signature (any JWS serialization);
// detachedPayload is the signed content of a detached one, nil otherwise.
// Input that is not a JWS at all gives ErrFormat.
func (v *Verifier) VerifyJAdES(ctx context.Context, jws []byte, detachedPayload []byte) (Report, error) {
	if Sniff(jws) != "jades" {
		return Report{}, fmt.Errorf("%w: not a JWS", ErrFormat)
	}
	rep := Report{Format: FormatJAdES, ValidationTime: v.now()}
	sr := SignatureReport{Coverage: "whole document"}
	s, err := jades.Parse(jws, detachedPayload)
	switch {
	case errors.Is(err, jades.ErrNoPayload):
		sr.Indication, sr.SubIndication, sr.Reason = Indeterminate, SignedDataNotFound, "detached signature: the signed content was not given"
	case err != nil:
		sr.Indication, sr.SubIndication, sr.Reason = TotalFailed, FormatFailure, err.Error()
	default:
		sr.Level = s.Level()
		ev := evidence{cert: s.Certificate, embedded: s.Chain, claimed: s.SigningTime, timestamps: s.Timestamps, timestamped: s.TimestampedData()}
		if err := s.Verify(); err != nil {
			switch {
			case errors.Is(err, jades.ErrSignature):
				ev.integrity = failed(SigCryptoFailure, "%v", err)
			case errors.Is(err, jades.ErrSigningCertificate):
				ev.integrity = indeterminate(NoSigningCertificateFound, "%v", err)
			default:
				ev.integrity = failed(FormatFailure, "%v", err)
			}
		}
		v.evaluate(ctx, ev, &sr)
	}
	rep.Signatures = []SignatureReport{sr}
	rep.conclude()
	return rep, nil
}
