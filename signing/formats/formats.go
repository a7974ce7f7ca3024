package formats

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"eidp/signing/cms"
	"eidp/signing/jades"
	"eidp/signing/pdf"
	"eidp/signing/tsa"
)

// Level is a baseline conformance level.
type Level string

// The levels we produce.
const (
	LevelB  Level = "B-B"
	LevelT  Level = "B-T"
	LevelLT Level = "B-LT"
)

// ParseLevel accepts the CSC conformance_level names ("Ades-B-B", …) and
// our own ("B-B", …); "" is B-B.
func ParseLevel(s string) (Level, error) {
	switch s {
	case "", "Ades-B-B", "AdES-B-B", "B-B", "Ades-B":
		return LevelB, nil
	case "Ades-B-T", "AdES-B-T", "B-T", "Ades-T":
		return LevelT, nil
	case "Ades-B-LT", "AdES-B-LT", "B-LT", "Ades-LT":
		return LevelLT, nil
	}
	return "", fmt.Errorf("%w: conformance level %q (supported: Ades-B-B, Ades-B-T, Ades-B-LT)", ErrUnsupported, s)
}

// check refuses a Level that is not one of ours (a caller may convert any
// string to a Level; without this an unknown one was signed as B-T by
// CAdES and PAdES and as B-B by JAdES).
func (l Level) check() error {
	switch l {
	case LevelB, LevelT, LevelLT:
		return nil
	}
	return fmt.Errorf("%w: conformance level %q", ErrUnsupported, string(l))
}

// Errors.
var (
	ErrUnsupported = errors.New("formats: unsupported")
	ErrNoTSA       = errors.New("formats: a B-T or B-LT signature needs the time-stamp authority")
)

// Revocation is validation material for B-LT: OCSP responses and CRLs
// (DER) covering the signer's certificate and its issuers.
type Revocation struct {
	OCSPs, CRLs [][]byte
}

// Signer signs with one resident certificate.
type Signer struct {
	Key   crypto.Signer
	Cert  *x509.Certificate
	Chain []*x509.Certificate // issuing CA, then root
	Hash  crypto.Hash         // digest algorithm (default SHA-256)
	TSA   *tsa.Authority      // needed for B-T and B-LT
	// TSAChain is the TSA certificate's path (for the DSS).
	TSAChain []*x509.Certificate
	// Revocation gathers B-LT material for the signer's certificate.
	Revocation func(ctx context.Context) (Revocation, error)
	Now        func() time.Time
}

func (s Signer) hash() crypto.Hash {
	if s.Hash == 0 {
		return crypto.SHA256
	}
	return s.Hash
}

func (s Signer) now() time.Time {
	if s.Now == nil {
		return time.Now().UTC()
	}
	return s.Now().UTC()
}

// embedded is the chain put into a CMS or JWS: the issuing CA, not the root.
func (s Signer) embedded() []*x509.Certificate {
	if len(s.Chain) > 1 {
		return s.Chain[:len(s.Chain)-1]
	}
	return s.Chain
}

// stamp returns a time-stamp token over data (the signature value).
func (s Signer) stamp(ctx context.Context, data []byte) ([]byte, error) {
	if s.TSA == nil {
		return nil, ErrNoTSA
	}
	h := s.hash().New()
	h.Write(data)
	return s.TSA.Stamp(ctx, s.hash(), h.Sum(nil), nil, true)
}

// CAdES signs content whose digest (s.Hash) is digest: a detached CAdES
// signature at level B-B or B-T.
func (s Signer) CAdES(ctx context.Context, digest []byte, level Level) ([]byte, error) {
	if err := level.check(); err != nil {
		return nil, err
	}
	if level == LevelLT {
		return nil, fmt.Errorf("%w: CAdES-B-LT (use PAdES for long-term material)", ErrUnsupported)
	}
	return s.cms(ctx, digest, level, s.now())
}

func (s Signer) cms(ctx context.Context, digest []byte, level Level, signingTime time.Time) ([]byte, error) {
	sd, err := cms.SignDigest(ctx, s.Key, digest, cms.SignOptions{
		Hash: s.hash(), Certificate: s.Cert, Chain: s.embedded(), SigningTime: signingTime,
	})
	if err != nil {
		return nil, err
	}
	if level == LevelB {
		return sd, nil
	}
	value, err := cms.SignatureValue(sd)
	if err != nil {
		return nil, err
	}
	token, err := s.stamp(ctx, value)
	if err != nil {
		return nil, err
	}
	return cms.AddSignatureTimestamp(sd, token)
}

// PDFOptions are the visible parts of a PAdES signature.
type PDFOptions = pdf.SignOptions

// PAdES signs the PDF in r (size bytes) and writes the signed PDF to w.
func (s Signer) PAdES(ctx context.Context, r io.ReaderAt, size int64, w io.Writer, level Level, opts PDFOptions) (int64, error) {
	if err := level.check(); err != nil {
		return 0, err
	}
	doc, err := pdf.Open(r, size, pdf.Limits{MaxSize: size + 1})
	if err != nil {
		return 0, err
	}
	if opts.SigningTime.IsZero() {
		opts.SigningTime = s.now()
	}
	if opts.ContentsSize == 0 && level != LevelB {
		opts.ContentsSize = 24 << 10 // room for the time-stamp token
	}
	prep, err := doc.Prepare(opts)
	if err != nil {
		return 0, err
	}
	digest, err := prep.Digest(s.hash())
	if err != nil {
		return 0, err
	}
	cmsLevel := level
	if level == LevelLT {
		cmsLevel = LevelT // the CMS is B-T; the DSS makes the document B-LT
	}
	sig, err := s.cms(ctx, digest, cmsLevel, time.Time{})
	if err != nil {
		return 0, err
	}
	if level != LevelLT {
		return prep.WriteTo(w, sig)
	}
	// B-LT: spool the signed revision, then append the DSS.
	tmp, err := os.CreateTemp("", "eidp-pades-*.pdf")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	n, err := prep.WriteTo(tmp, sig)
	if err != nil {
		return 0, err
	}
	signed, err := pdf.Open(tmp, n, pdf.Limits{MaxSize: n + 1})
	if err != nil {
		return 0, fmt.Errorf("formats: reopen the signed PDF: %w", err)
	}
	dss := pdf.DSS{}
	for _, c := range append(append([]*x509.Certificate{s.Cert}, s.Chain...), s.TSAChain...) {
		dss.Certs = appendUnique(dss.Certs, c.Raw)
	}
	if s.Revocation != nil {
		rev, err := s.Revocation(ctx)
		if err != nil {
			return 0, fmt.Errorf("formats: revocation material: %w", err)
		}
		dss.OCSPs, dss.CRLs = rev.OCSPs, rev.CRLs
	}
	return signed.AppendDSS(w, dss)
}

func appendUnique(list [][]byte, b []byte) [][]byte {
	for _, x := range list {
		if string(x) == string(b) {
			return list
		}
	}
	return append(list, b)
}

// JAdES signs a JSON document: flattened JWS JSON serialization at level
// B-B or B-T, the payload attached unless detached.
func (s Signer) JAdES(ctx context.Context, payload []byte, level Level, detached bool) ([]byte, error) {
	if err := level.check(); err != nil {
		return nil, err
	}
	if level == LevelLT {
		return nil, fmt.Errorf("%w: JAdES-B-LT", ErrUnsupported)
	}
	opts := jades.SignOptions{Certificate: s.Cert, Chain: s.embedded(), SigningTime: s.now(), ContentType: "json", Detached: detached}
	if level == LevelT {
		if s.TSA == nil {
			return nil, ErrNoTSA
		}
		opts.Timestamp = func(ctx context.Context, h crypto.Hash, digest []byte) ([]byte, error) {
			return s.TSA.Stamp(ctx, h, digest, nil, true)
		}
	}
	return jades.Sign(ctx, s.Key, payload, opts)
}
