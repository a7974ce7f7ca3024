package verify

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"eidp/signing/tsa"
)

// Verifier validates signatures against trust anchors and a status source.
// The zero value trusts nothing; set Roots.
type Verifier struct {
	// Roots are the trust anchors for signers and time-stamp authorities.
	Roots *x509.CertPool
	// Intermediates are CA certificates that may complete a path, beside
	// those a signature carries. Optional.
	Intermediates *x509.CertPool
	// Status answers revocation status. Nil: every status is "unknown".
	Status StatusSource
	// Now is the validation time; nil means time.Now.
	Now func() time.Time
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// outcome is an indication with its sub-indication and reason.
type outcome struct {
	ind    Indication
	sub    SubIndication
	reason string
}

func failed(sub SubIndication, format string, args ...any) *outcome {
	return &outcome{TotalFailed, sub, fmt.Sprintf(format, args...)}
}

func indeterminate(sub SubIndication, format string, args ...any) *outcome {
	return &outcome{Indeterminate, sub, fmt.Sprintf(format, args...)}
}

// evidence is what a format gives the common part of the validation.
type evidence struct {
	// integrity is the result of the format's own checks (form, digest,
	// signature value); nil when they passed.
	integrity *outcome
	cert      *x509.Certificate
	embedded  []*x509.Certificate
	claimed   time.Time
	// timestamps are signature time-stamp tokens over timestamped.
	timestamps  [][]byte
	timestamped []byte
	// poe are proofs of existence found elsewhere (PDF document
	// time-stamps covering the signature).
	poe []time.Time
	// warnings go to the report as they are.
	warnings []string
	// dss is the PDF's Document Security Store for this signature; nil
	// for other formats or when the PDF has none.
	dss *dssMaterial
}

// evaluate completes rep from ev (TS 119 102-1 §5.3 and §5.5, as
// summarised in doc.go).
func (v *Verifier) evaluate(ctx context.Context, ev evidence, rep *SignatureReport) {
	rep.ClaimedSigningTime = ev.claimed
	rep.Warnings = append(rep.Warnings, ev.warnings...)
	if ev.cert != nil {
		rep.SignerName = displayName(ev.cert)
		rep.SignerSerial = fmt.Sprintf("%X", ev.cert.SerialNumber)
	}
	o := v.judge(ctx, ev, rep)
	if o == nil {
		rep.Indication = TotalPassed
		return
	}
	rep.Indication, rep.SubIndication, rep.Reason = o.ind, o.sub, o.reason
}

func (v *Verifier) judge(ctx context.Context, ev evidence, rep *SignatureReport) *outcome {
	if ev.integrity != nil {
		return ev.integrity
	}
	cert := ev.cert
	if cert == nil {
		return indeterminate(NoSigningCertificateFound, "the signing certificate is not in the signature")
	}
	now := v.now()
	intermediates := v.intermediates(ev.embedded)

	// Proof of existence: the earliest good time-stamp.
	var poe time.Time
	for i, der := range ev.timestamps {
		t, err := v.checkTimestamp(ctx, der, ev.timestamped, ev.embedded)
		if err != nil {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("signature time-stamp %d not used: %v", i+1, err))
			continue
		}
		if poe.IsZero() || t.Before(poe) {
			poe = t
		}
	}
	rep.TimestampTime = poe
	for _, t := range ev.poe {
		if poe.IsZero() || t.Before(poe) {
			poe = t
		}
	}
	if !poe.IsZero() && poe.Before(cert.NotBefore) {
		return failed(NotYetValid, "the signature existed at %s, before its certificate was issued (%s)", stamp(poe), stamp(cert.NotBefore))
	}

	// The certificate path, at the validation time.
	opts := x509.VerifyOptions{Roots: v.roots(), Intermediates: intermediates, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
	chains, err := cert.Verify(opts)
	outOfBounds := false
	if err != nil && isValidityError(err) {
		if now.Before(cert.NotBefore) {
			return indeterminate(NotYetValid, "the signing certificate is valid only from %s", stamp(cert.NotBefore))
		}
		outOfBounds = true
		if !poe.IsZero() {
			// TS 119 102-1 §5.5: a certificate expired now is fine if the
			// signature provably existed while it was valid.
			opts.CurrentTime = poe
			if chains, err = cert.Verify(opts); err == nil {
				outOfBounds = false
			} else if isValidityError(err) {
				err = nil // expired at the POE too: out of bounds below
			}
		} else {
			// Build the path at a time it was valid, to report it and to
			// ask for the status; the expiry is judged below.
			opts.CurrentTime = cert.NotAfter
			chains, err = cert.Verify(opts)
		}
	}
	if err != nil {
		var unknown x509.UnknownAuthorityError
		if errors.As(err, &unknown) {
			return indeterminate(NoCertificateChainFound, "the signing certificate does not chain to a trusted root")
		}
		return indeterminate(CertificateChainGeneralFailure, "certificate path: %v", err)
	}
	if len(chains) > 0 {
		for _, c := range chains[0] {
			rep.Chain = append(rep.Chain, subjectString(c))
		}
	}
	issuer := cert
	if len(chains) > 0 && len(chains[0]) > 1 {
		issuer = chains[0][1]
	}
	if cert.KeyUsage != 0 && cert.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
		return indeterminate(ChainConstraintsFailure, "the signing certificate's key usage allows neither digitalSignature nor nonRepudiation")
	}

	// Revocation status.
	st, source, statusErr := v.certStatus(ctx, ev, cert, issuer, intermediates, chains, poe, now, rep)
	rep.StatusSource = source
	switch {
	case statusErr != nil:
		rep.CertificateStatus = StatusUnknown
	case st.Revoked:
		rep.CertificateStatus, rep.RevokedAt = StatusRevoked, st.RevokedAt
	default:
		rep.CertificateStatus = StatusGood
	}
	if st.Revoked {
		switch {
		case !ev.claimed.IsZero() && !ev.claimed.Before(st.RevokedAt):
			return failed(Revoked, "the signing certificate was revoked at %s, before the claimed signing time %s", stamp(st.RevokedAt), stamp(ev.claimed))
		case !poe.IsZero() && poe.Before(st.RevokedAt):
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("the signing certificate was revoked at %s, after the signature's proof of existence at %s", stamp(st.RevokedAt), stamp(poe)))
		default:
			return indeterminate(RevokedNoPOE, "the signing certificate was revoked at %s and nothing proves the signature existed before", stamp(st.RevokedAt))
		}
	}
	if outOfBounds {
		if st.Known && !st.Revoked {
			return indeterminate(OutOfBoundsNotRevoked, "the signing certificate expired at %s and nothing proves the signature existed before", stamp(cert.NotAfter))
		}
		return indeterminate(OutOfBoundsNoPOE, "the signing certificate expired at %s and nothing proves the signature existed before", stamp(cert.NotAfter))
	}
	if statusErr != nil {
		return indeterminate(TryLater, "the signing certificate's revocation status is unknown: %v", statusErr)
	}
	return nil
}

var errNoStatusSource = errors.New("no revocation status source")

// certStatus asks Verifier.Status; when it is not set or has no answer,
// the DSS's revocation data (PAdES) answers. A revocation found in the DSS
// is kept even when the source says good: it is signed by the issuer or
// its responder, and revocation is final (RFC 5280 §5.3.1 without
// certificateHold). It also upgrades rep.Level from B-T to B-LT when the
// DSS holds the whole path and usable revocation data.
func (v *Verifier) certStatus(ctx context.Context, ev evidence, cert, issuer *x509.Certificate, intermediates *x509.CertPool,
	chains [][]*x509.Certificate, poe, now time.Time, rep *SignatureReport) (Status, string, error) {
	var fromDSS Status
	var dssSource string
	dssErr := errors.New("the document has no DSS")
	if ev.dss != nil {
		fromDSS, dssSource, dssErr = v.dssStatus(ev.dss, cert, issuer, intermediates, poe, now)
		if dssErr == nil && rep.Level == "B-T" && ev.dss.hasPath(chains) {
			rep.Level = LevelLT
		}
	}
	if v.Status == nil {
		if dssErr == nil {
			return fromDSS, dssSource, nil
		}
		if ev.dss == nil {
			return Status{}, "", errNoStatusSource
		}
		return Status{}, "", fmt.Errorf("%w; %w", errNoStatusSource, dssErr)
	}
	st, err := v.status(ctx, cert, issuer)
	switch {
	case err == nil && dssErr == nil && fromDSS.Revoked && !st.Revoked:
		return fromDSS, dssSource, nil
	case err == nil:
		return st, StatusFromSource, nil
	case dssErr == nil:
		return fromDSS, dssSource, nil
	case ev.dss == nil:
		return Status{}, "", err
	}
	return Status{}, "", fmt.Errorf("%w; %w", err, dssErr)
}

// status asks the status source; a source that does not know the
// certificate counts as no answer.
func (v *Verifier) status(ctx context.Context, cert, issuer *x509.Certificate) (Status, error) {
	if v.Status == nil {
		return Status{}, errNoStatusSource
	}
	st, err := v.Status.Status(ctx, cert, issuer)
	if err != nil {
		return Status{}, err
	}
	if !st.Known {
		return Status{}, errors.New("the status source does not know the certificate")
	}
	return st, nil
}

// checkTimestamp verifies a signature time-stamp token over timestamped
// and returns its time.
func (v *Verifier) checkTimestamp(ctx context.Context, der, timestamped []byte, embedded []*x509.Certificate) (time.Time, error) {
	tok, err := tsa.ParseToken(der)
	if err != nil {
		return time.Time{}, err
	}
	if !tok.Hash.Available() {
		return time.Time{}, fmt.Errorf("unsupported imprint hash %v", tok.Hash)
	}
	h := tok.Hash.New()
	h.Write(timestamped)
	return v.checkToken(ctx, tok, h.Sum(nil), embedded)
}

// checkToken checks a time-stamp token over digest: its signature, its
// imprint, the TSA's path to the roots (with the certificates the token
// carries), and the TSA certificate's status when a source is set.
func (v *Verifier) checkToken(ctx context.Context, tok *tsa.Token, digest []byte, embedded []*x509.Certificate) (time.Time, error) {
	intermediates := v.intermediates(append(tokenCertificates(tok), embedded...))
	if err := tok.Verify(tok.Hash, digest, v.roots(), intermediates); err != nil {
		return time.Time{}, err
	}
	if err := v.checkTSAStatus(ctx, tok, intermediates); err != nil {
		return time.Time{}, err
	}
	return tok.GenTime, nil
}

// tokenFailure classifies a failed token check for a report.
func tokenFailure(tok *tsa.Token, roots *x509.CertPool, err error) *outcome {
	if tok.Certificate != nil {
		_, chainErr := tok.Certificate.Verify(x509.VerifyOptions{Roots: roots, Intermediates: certPool(tokenCertificates(tok)),
			CurrentTime: tok.GenTime, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		var unknown x509.UnknownAuthorityError
		if errors.As(chainErr, &unknown) {
			return indeterminate(NoCertificateChainFound, "the time-stamp authority does not chain to a trusted root")
		}
	}
	return failed(SigCryptoFailure, "time-stamp: %v", err)
}

func tokenCertificates(tok *tsa.Token) []*x509.Certificate {
	if tok.SignedData == nil {
		return nil
	}
	return slices.Clone(tok.SignedData.Certificates)
}

func certPool(certs []*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

// checkTSAStatus refuses a time-stamp whose TSA certificate was revoked
// before it was made. No answer is not a refusal: the TSA's certificate is
// often not one the status source covers.
func (v *Verifier) checkTSAStatus(ctx context.Context, tok *tsa.Token, intermediates *x509.CertPool) error {
	if v.Status == nil || tok.Certificate == nil {
		return nil
	}
	chains, err := tok.Certificate.Verify(x509.VerifyOptions{Roots: v.roots(), Intermediates: intermediates, CurrentTime: tok.GenTime,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil || len(chains[0]) < 2 {
		return nil // Token.Verify judged the path already
	}
	st, err := v.Status.Status(ctx, tok.Certificate, chains[0][1])
	if err == nil && st.Known && st.Revoked && !tok.GenTime.Before(st.RevokedAt) {
		return fmt.Errorf("the TSA certificate was revoked at %s, before the time-stamp", stamp(st.RevokedAt))
	}
	return nil
}

func (v *Verifier) roots() *x509.CertPool {
	if v.Roots == nil {
		return x509.NewCertPool() // trust nothing, rather than the system roots
	}
	return v.Roots
}

func (v *Verifier) intermediates(embedded []*x509.Certificate) *x509.CertPool {
	var p *x509.CertPool
	if v.Intermediates != nil {
		p = v.Intermediates.Clone()
	} else {
		p = x509.NewCertPool()
	}
	for _, c := range embedded {
		p.AddCert(c)
	}
	return p
}

// isValidityError reports a path that failed only on a validity period.
func isValidityError(err error) bool {
	var inv x509.CertificateInvalidError
	return errors.As(err, &inv) && inv.Reason == x509.Expired
}

func displayName(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return c.Subject.CommonName
	}
	return c.Subject.String()
}

// attributeNames are short names for the subject attributes crypto/x509
// prints as OIDs (RFC 4519 §2; EN 319 412-2 puts givenName and surname in
// residents' subjects).
var attributeNames = map[string]string{
	"2.5.4.3": "CN", "2.5.4.4": "SN", "2.5.4.5": "SERIALNUMBER", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST",
	"2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.42": "GN", "2.5.4.97": "organizationIdentifier",
}

// subjectString is the subject as an RFC 4514 string, most specific first,
// with short names for the attributes residents' certificates carry.
func subjectString(c *x509.Certificate) string {
	names := c.Subject.Names // every attribute, in certificate order
	var parts []string
	for i := len(names) - 1; i >= 0; i-- {
		name, ok := attributeNames[names[i].Type.String()]
		value, isString := names[i].Value.(string)
		if !ok || !isString {
			return c.Subject.String()
		}
		parts = append(parts, name+"="+value)
	}
	if len(parts) == 0 {
		return c.Subject.String()
	}
	return strings.Join(parts, ",")
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
