package verify

import (
	"bytes"
	"crypto"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ocsp"

	"eidp/signing/pdf"
)

// Where a signature's certificate status came from
// (SignatureReport.StatusSource).
const (
	StatusFromSource  = "status-source" // Verifier.Status
	StatusFromDSSOCSP = "ocsp-dss"      // an OCSP response in the PDF's DSS
	StatusFromDSSCRL  = "crl-dss"       // a CRL in the PDF's DSS
)

// LevelLT is the baseline level of a PAdES signature whose validation
// material is in the document's DSS (ETSI EN 319 142-1 §5.4, §6.3).
const LevelLT = "B-LT"

// dssTimeSlack tolerates revocation data whose time has whole seconds
// (OCSP, CRL) against a time-stamp's finer genTime.
const dssTimeSlack = time.Second

// dssMaterial is the validation material a PDF's Document Security Store
// (ETSI EN 319 142-1 §5.4.2) offers one signature: the document-wide
// arrays and the signature's VRI entry.
type dssMaterial struct {
	certs []*x509.Certificate
	ocsps [][]byte
	crls  []*x509.RevocationList
}

// parseDSS parses the certificates and CRLs of one DSS array set. Items
// that do not parse are left out: they cannot prove anything.
func parseDSS(certs, ocsps, crls [][]byte) *dssMaterial {
	m := &dssMaterial{ocsps: ocsps}
	for _, der := range certs {
		if c, err := x509.ParseCertificate(der); err == nil {
			m.certs = append(m.certs, c)
		}
	}
	for _, der := range crls {
		if l, err := x509.ParseRevocationList(der); err == nil {
			m.crls = append(m.crls, l)
		}
	}
	return m
}

// forSignature adds the signature's VRI entry (keyed by
// pdf.Signature.VRIKey) to the document-wide material. Nil when there is
// no material at all.
func (m *dssMaterial) forSignature(dss pdf.DSS, vriKey string) *dssMaterial {
	e, ok := dss.VRI[vriKey]
	if !ok {
		if m.empty() {
			return nil
		}
		return m
	}
	vri := parseDSS(e.Certs, e.OCSPs, e.CRLs)
	out := &dssMaterial{certs: slices.Clone(m.certs), ocsps: slices.Clone(m.ocsps), crls: slices.Clone(m.crls)}
	for _, c := range vri.certs {
		if !slices.ContainsFunc(out.certs, c.Equal) {
			out.certs = append(out.certs, c)
		}
	}
	for _, o := range vri.ocsps {
		if !slices.ContainsFunc(out.ocsps, func(b []byte) bool { return bytes.Equal(b, o) }) {
			out.ocsps = append(out.ocsps, o)
		}
	}
	for _, l := range vri.crls {
		if !slices.ContainsFunc(out.crls, func(x *x509.RevocationList) bool { return bytes.Equal(x.Raw, l.Raw) }) {
			out.crls = append(out.crls, l)
		}
	}
	if out.empty() {
		return nil
	}
	return out
}

func (m *dssMaterial) empty() bool {
	return len(m.certs) == 0 && len(m.ocsps) == 0 && len(m.crls) == 0
}

// hasPath reports whether every certificate of one of the paths, trust
// anchor included, is in the DSS (EN 319 142-1 §5.4.2: the certificates
// needed to validate the signature).
func (m *dssMaterial) hasPath(chains [][]*x509.Certificate) bool {
	for _, chain := range chains {
		complete := len(chain) > 0
		for _, c := range chain {
			if !slices.ContainsFunc(m.certs, c.Equal) {
				complete = false
				break
			}
		}
		if complete {
			return true
		}
	}
	return false
}

// revocationAnswer is one piece of revocation data that was found
// trustworthy and about the certificate.
type revocationAnswer struct {
	status                 Status
	thisUpdate, nextUpdate time.Time
	source                 string
	label                  string
}

// errNotAbout marks revocation data about other certificates: skipped
// without comment.
var errNotAbout = errors.New("not about this certificate")

// dssStatus derives cert's status from the DSS: OCSP responses (RFC 6960)
// signed by its issuer or by a responder the issuer delegated to
// (§4.2.2.2: issued by the issuer, id-kp-OCSPSigning, chaining to the
// roots), and complete CRLs (RFC 5280 §6.3) signed by its issuer. A
// revocation is taken whenever it was issued; "good" only from data issued
// after the proof of existence poe (TS 119 102-1 §5.2.5 freshness), or
// current at now when there is no POE.
func (v *Verifier) dssStatus(m *dssMaterial, cert, issuer *x509.Certificate, intermediates *x509.CertPool, poe, now time.Time) (Status, string, error) {
	var answers []revocationAnswer
	var problems []string
	for i, der := range m.ocsps {
		a, err := v.dssOCSP(der, cert, issuer, m.certs, intermediates)
		switch {
		case errors.Is(err, errNotAbout):
		case err != nil:
			problems = append(problems, fmt.Sprintf("OCSP response %d not used: %v", i+1, err))
		default:
			a.label = fmt.Sprintf("OCSP response %d", i+1)
			answers = append(answers, a)
		}
	}
	for i, l := range m.crls {
		a, err := dssCRL(l, cert, issuer)
		switch {
		case errors.Is(err, errNotAbout):
		case err != nil:
			problems = append(problems, fmt.Sprintf("CRL %d not used: %v", i+1, err))
		default:
			a.label = fmt.Sprintf("CRL %d", i+1)
			answers = append(answers, a)
		}
	}
	var revoked *revocationAnswer
	for i, a := range answers {
		if a.thisUpdate.After(now.Add(ocspClockSkew)) {
			problems = append(problems, fmt.Sprintf("%s not used: issued in the future (%s)", a.label, stamp(a.thisUpdate)))
			continue
		}
		if a.status.Revoked && (revoked == nil || a.status.RevokedAt.Before(revoked.status.RevokedAt)) {
			revoked = &answers[i]
		}
	}
	if revoked != nil {
		return revoked.status, revoked.source, nil
	}
	for _, a := range answers {
		switch {
		case a.thisUpdate.After(now.Add(ocspClockSkew)):
		case !a.status.Known:
			problems = append(problems, a.label+" says the status is unknown")
		case !poe.IsZero() && a.thisUpdate.Before(poe.Add(-dssTimeSlack)):
			problems = append(problems, fmt.Sprintf("%s (%s) predates the signature's proof of existence (%s)", a.label, stamp(a.thisUpdate), stamp(poe)))
		case poe.IsZero() && !current(a, now):
			problems = append(problems, fmt.Sprintf("%s is not current and no time-stamp shows when the signature existed", a.label))
		default:
			return a.status, a.source, nil
		}
	}
	if len(problems) == 0 {
		return Status{}, "", errors.New("the DSS has no revocation data for the signing certificate")
	}
	return Status{}, "", fmt.Errorf("DSS: %s", strings.Join(problems, "; "))
}

// current is RFC 6960 §3.2 items 5 and 6 (and RFC 5280 §6.3.3 for CRLs):
// the data is valid at now, within the clock skew.
func current(a revocationAnswer, now time.Time) bool {
	if a.nextUpdate.IsZero() {
		return !a.thisUpdate.Before(now.Add(-ocspClockSkew))
	}
	return !a.nextUpdate.Before(now.Add(-ocspClockSkew))
}

// dssOCSP checks one OCSP response from the DSS for cert.
func (v *Verifier) dssOCSP(der []byte, cert, issuer *x509.Certificate, dssCerts []*x509.Certificate, intermediates *x509.CertPool) (revocationAnswer, error) {
	if err := ocspIsAbout(der, cert, issuer); err != nil {
		return revocationAnswer{}, err
	}
	// With no issuer given, the library checks only a signature by a
	// certificate the response embeds; who that is is judged below.
	r, err := ocsp.ParseResponseForCert(der, cert, nil)
	if err != nil {
		return revocationAnswer{}, err
	}
	responder := r.Certificate
	if responder == nil {
		candidates := []*x509.Certificate{issuer}
		for _, c := range dssCerts {
			if !c.Equal(issuer) && namesResponder(r, c) {
				candidates = append(candidates, c)
			}
		}
		for _, c := range candidates {
			if r.CheckSignatureFrom(c) == nil {
				responder = c
				break
			}
		}
		if responder == nil {
			return revocationAnswer{}, errors.New("not signed by the certificate's issuer or a responder certificate in the DSS")
		}
	}
	if !responder.Equal(issuer) {
		// RFC 6960 §4.2.2.2: a delegated responder.
		if err := responder.CheckSignatureFrom(issuer); err != nil {
			return revocationAnswer{}, fmt.Errorf("the responder %q was not certified by the certificate's issuer", displayName(responder))
		}
		if !slices.Contains(responder.ExtKeyUsage, x509.ExtKeyUsageOCSPSigning) {
			return revocationAnswer{}, fmt.Errorf("the responder %q lacks id-kp-OCSPSigning", displayName(responder))
		}
		if _, err := responder.Verify(x509.VerifyOptions{Roots: v.roots(), Intermediates: intermediates, CurrentTime: r.ProducedAt,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}}); err != nil {
			return revocationAnswer{}, fmt.Errorf("the responder %q: %w", displayName(responder), err)
		}
	}
	a := revocationAnswer{thisUpdate: r.ThisUpdate, nextUpdate: r.NextUpdate, source: StatusFromDSSOCSP}
	switch r.Status {
	case ocsp.Good:
		a.status = Status{Known: true}
	case ocsp.Revoked:
		a.status = Status{Known: true, Revoked: true, RevokedAt: r.RevokedAt, Reason: r.RevocationReason}
	}
	return a, nil
}

// namesResponder reports whether c is the responder the response's
// ResponderID names (RFC 6960 §4.2.1: by name or by SHA-1 key hash).
func namesResponder(r *ocsp.Response, c *x509.Certificate) bool {
	if len(r.RawResponderName) > 0 {
		return bytes.Equal(r.RawResponderName, c.RawSubject)
	}
	bits, err := publicKeyBits(c)
	if err != nil {
		return false
	}
	h := sha1.Sum(bits)
	return bytes.Equal(r.ResponderKeyHash, h[:])
}

// dssCRL checks one CRL from the DSS for cert: issued and signed by cert's
// issuer, complete (no critical extension such as an issuing distribution
// point or a delta-CRL indicator, which this verifier does not implement).
func dssCRL(l *x509.RevocationList, cert, issuer *x509.Certificate) (revocationAnswer, error) {
	if !bytes.Equal(l.RawIssuer, issuer.RawSubject) {
		return revocationAnswer{}, errNotAbout
	}
	if err := l.CheckSignatureFrom(issuer); err != nil {
		return revocationAnswer{}, fmt.Errorf("not signed by the certificate's issuer: %w", err)
	}
	for _, e := range l.Extensions {
		if e.Critical {
			return revocationAnswer{}, fmt.Errorf("critical extension %v is not supported", e.Id)
		}
	}
	a := revocationAnswer{thisUpdate: l.ThisUpdate, nextUpdate: l.NextUpdate, source: StatusFromDSSCRL, status: Status{Known: true}}
	for _, e := range l.RevokedCertificateEntries {
		if e.SerialNumber != nil && e.SerialNumber.Cmp(cert.SerialNumber) == 0 {
			a.status = Status{Known: true, Revoked: true, RevokedAt: e.RevocationTime, Reason: e.ReasonCode}
			break
		}
	}
	return a, nil
}

// The parts of an OCSP response (RFC 6960 §4.2.1) needed to see which
// certificate each single response is about; x/crypto/ocsp matches on the
// serial number alone.
type (
	ocspResponseASN1 struct {
		Status asn1.Enumerated
		Bytes  struct {
			Type     asn1.ObjectIdentifier
			Response []byte
		} `asn1:"explicit,tag:0,optional"`
	}
	basicOCSPResponseASN1 struct {
		TBS       tbsResponseDataASN1
		Algorithm pkix.AlgorithmIdentifier
		Signature asn1.BitString
		Certs     []asn1.RawValue `asn1:"explicit,tag:0,optional"`
	}
	tbsResponseDataASN1 struct {
		Version     int `asn1:"optional,explicit,default:0,tag:0"`
		ResponderID asn1.RawValue
		ProducedAt  time.Time `asn1:"generalized"`
		Responses   []singleResponseASN1
		Extensions  []pkix.Extension `asn1:"optional,explicit,tag:1"`
	}
	singleResponseASN1 struct {
		CertID     certIDASN1
		Status     asn1.RawValue
		ThisUpdate time.Time        `asn1:"generalized"`
		NextUpdate time.Time        `asn1:"generalized,explicit,tag:0,optional"`
		Extensions []pkix.Extension `asn1:"explicit,tag:1,optional"`
	}
	certIDASN1 struct {
		HashAlgorithm pkix.AlgorithmIdentifier
		NameHash      []byte
		IssuerKeyHash []byte
		SerialNumber  *big.Int
	}
)

var certIDHashes = map[string]crypto.Hash{
	"1.3.14.3.2.26":          crypto.SHA1,
	"2.16.840.1.101.3.4.2.1": crypto.SHA256,
	"2.16.840.1.101.3.4.2.2": crypto.SHA384,
	"2.16.840.1.101.3.4.2.3": crypto.SHA512,
}

// ocspIsAbout checks that the first single response with cert's serial
// number (the one x/crypto/ocsp returns) names cert's issuer in its CertID
// (RFC 6960 §4.1.1: issuerNameHash, issuerKeyHash). errNotAbout when no
// single response is about cert.
func ocspIsAbout(der []byte, cert, issuer *x509.Certificate) error {
	var resp ocspResponseASN1
	if _, err := asn1.Unmarshal(der, &resp); err != nil {
		return errNotAbout // not an OCSP response at all
	}
	var basic basicOCSPResponseASN1
	if _, err := asn1.Unmarshal(resp.Bytes.Response, &basic); err != nil {
		return errNotAbout
	}
	for _, s := range basic.TBS.Responses {
		id := s.CertID
		if id.SerialNumber == nil || id.SerialNumber.Cmp(cert.SerialNumber) != 0 {
			continue
		}
		h, ok := certIDHashes[id.HashAlgorithm.Algorithm.String()]
		if !ok || !h.Available() {
			return fmt.Errorf("CertID hash %v is not supported", id.HashAlgorithm.Algorithm)
		}
		bits, err := publicKeyBits(issuer)
		if err != nil {
			return err
		}
		nh, kh := h.New(), h.New()
		nh.Write(issuer.RawSubject)
		kh.Write(bits)
		if !bytes.Equal(nh.Sum(nil), id.NameHash) || !bytes.Equal(kh.Sum(nil), id.IssuerKeyHash) {
			return errNotAbout // same serial number, another CA
		}
		return nil
	}
	return errNotAbout
}

// publicKeyBits is the subjectPublicKey BIT STRING's content, which OCSP
// key hashes cover (RFC 6960 §4.1.1).
func publicKeyBits(c *x509.Certificate) ([]byte, error) {
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(c.RawSubjectPublicKeyInfo, &spki); err != nil {
		return nil, fmt.Errorf("certificate public key: %w", err)
	}
	return spki.PublicKey.RightAlign(), nil
}
