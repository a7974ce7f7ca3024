package verify

import (
	"context"
	"crypto/x509"
	"errors"
	"strconv"
	"time"
)

// Indication is the main validation result (ETSI TS 119 102-1 §5.1.3).
type Indication string

const (
	TotalPassed   Indication = "TOTAL_PASSED"
	TotalFailed   Indication = "TOTAL_FAILED"
	Indeterminate Indication = "INDETERMINATE"
)

// severity orders indications from best to worst.
func (i Indication) severity() int {
	switch i {
	case TotalPassed:
		return 0
	case Indeterminate:
		return 1
	default:
		return 2
	}
}

// SubIndication says why a signature did not pass (ETSI TS 119 102-1
// §5.1.3, Table 5).
type SubIndication string

const (
	FormatFailure                  SubIndication = "FORMAT_FAILURE"
	HashFailure                    SubIndication = "HASH_FAILURE"
	SigCryptoFailure               SubIndication = "SIG_CRYPTO_FAILURE"
	Revoked                        SubIndication = "REVOKED"
	Expired                        SubIndication = "EXPIRED"
	NotYetValid                    SubIndication = "NOT_YET_VALID"
	SigConstraintsFailure          SubIndication = "SIG_CONSTRAINTS_FAILURE"
	ChainConstraintsFailure        SubIndication = "CHAIN_CONSTRAINTS_FAILURE"
	CertificateChainGeneralFailure SubIndication = "CERTIFICATE_CHAIN_GENERAL_FAILURE"
	CryptoConstraintsFailure       SubIndication = "CRYPTO_CONSTRAINTS_FAILURE"
	NoSigningCertificateFound      SubIndication = "NO_SIGNING_CERTIFICATE_FOUND"
	NoCertificateChainFound        SubIndication = "NO_CERTIFICATE_CHAIN_FOUND"
	RevokedNoPOE                   SubIndication = "REVOKED_NO_POE"
	OutOfBoundsNoPOE               SubIndication = "OUT_OF_BOUNDS_NO_POE"
	OutOfBoundsNotRevoked          SubIndication = "OUT_OF_BOUNDS_NOT_REVOKED"
	TryLater                       SubIndication = "TRY_LATER"
	SignedDataNotFound             SubIndication = "SIGNED_DATA_NOT_FOUND"
)

// Formats named in reports.
const (
	FormatPAdES = "PAdES"
	FormatCAdES = "CAdES"
	FormatJAdES = "JAdES"
)

// Certificate statuses named in reports.
const (
	StatusGood    = "good"
	StatusRevoked = "revoked"
	StatusUnknown = "unknown"
)

// Report is the validation report of one document (modelled on ETSI TS
// 119 102-2). Indication, SubIndication and Reason are those of the worst
// signature.
type Report struct {
	Indication     Indication        `json:"indication"`
	SubIndication  SubIndication     `json:"sub_indication,omitempty"`
	Reason         string            `json:"reason,omitempty"`
	Format         string            `json:"format"`
	Signatures     []SignatureReport `json:"signatures"`
	ValidationTime time.Time         `json:"validation_time"`
}

// SignatureReport is the result for one signature (or PDF document
// time-stamp).
type SignatureReport struct {
	Indication    Indication    `json:"indication"`
	SubIndication SubIndication `json:"sub_indication,omitempty"`
	Reason        string        `json:"reason,omitempty"`
	// Level is the baseline level the signature carries: "B-B", "B-T",
	// "B-LT" (PAdES with its validation material in the DSS), or
	// "document time-stamp" for a PDF document time-stamp.
	Level        string `json:"level,omitempty"`
	SignerName   string `json:"signer_name,omitempty"`
	SignerSerial string `json:"signer_serial,omitempty"` // hexadecimal
	// ClaimedSigningTime is the time the signer claims (signing-time
	// attribute, PDF /M, JAdES sigT); TimestampTime is the proof of
	// existence the validation used (a time-stamp's genTime), zero if none.
	ClaimedSigningTime time.Time `json:"claimed_signing_time,omitzero"`
	TimestampTime      time.Time `json:"timestamp_time,omitzero"`
	// CertificateStatus is "good", "revoked" or "unknown".
	CertificateStatus string    `json:"certificate_status,omitempty"`
	RevokedAt         time.Time `json:"revoked_at,omitzero"`
	// StatusSource says what gave the status: "status-source"
	// (Verifier.Status), "ocsp-dss" or "crl-dss" (revocation data in the
	// PDF's DSS); empty when the status is unknown.
	StatusSource string `json:"status_source,omitempty"`
	// Coverage is "whole document", or for an earlier PDF revision
	// "revision N of M".
	Coverage string `json:"coverage,omitempty"`
	// FieldName is the PDF signature field.
	FieldName string `json:"field_name,omitempty"`
	// Chain lists the certificate path's subjects, signer first.
	Chain []string `json:"chain,omitempty"`
	// Warnings are findings that did not decide the indication (a
	// time-stamp that failed and was not used, a missing
	// signing-certificate attribute).
	Warnings []string `json:"warnings,omitempty"`
}

// Status is a certificate's revocation status as a StatusSource knows it.
// Known false means the source has no information on the certificate.
type Status struct {
	Known, Revoked bool
	RevokedAt      time.Time
	Reason         int // RFC 5280 §5.3.1 CRLReason
}

// StatusSource answers a certificate's revocation status; issuer is the
// certificate that issued cert.
type StatusSource interface {
	Status(ctx context.Context, cert, issuer *x509.Certificate) (Status, error)
}

// StatusFunc adapts a function to StatusSource.
type StatusFunc func(ctx context.Context, cert, issuer *x509.Certificate) (Status, error)

// Status calls f.
func (f StatusFunc) Status(ctx context.Context, cert, issuer *x509.Certificate) (Status, error) {
	return f(ctx, cert, issuer)
}

// Errors for input that is not a signed document of the kind asked for;
// a document that is one but whose signature is bad gives a Report instead.
var (
	// ErrFormat: not a PDF, CMS or JWS that can be read at all.
	ErrFormat = errors.New("verify: not a readable signed document")
	// ErrNoSignature: the document has no signature.
	ErrNoSignature = errors.New("verify: the document has no signature")
)

// conclude folds the signatures' results into the report's.
func (r *Report) conclude() {
	r.Indication = TotalPassed
	worst := -1
	for i, s := range r.Signatures {
		if worst < 0 || s.Indication.severity() > r.Signatures[worst].Indication.severity() {
			worst = i
		}
	}
	if worst >= 0 {
		s := r.Signatures[worst]
		r.Indication, r.SubIndication, r.Reason = s.Indication, s.SubIndication, s.Reason
		if len(r.Signatures) > 1 && s.Indication != TotalPassed {
			r.Reason = "signature " + signatureLabel(worst, s) + ": " + s.Reason
		}
	}
}

func signatureLabel(i int, s SignatureReport) string {
	if s.FieldName != "" {
		return "\"" + s.FieldName + "\""
	}
	return strconv.Itoa(i + 1)
}
