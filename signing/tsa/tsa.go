package tsa

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"eidp/signing/cms"
)

// Sentinel errors; every error of this package wraps one of them (or a cms one).
var (
	// ErrCertificate: the TSA certificate is not fit for time-stamping.
	ErrCertificate = errors.New("tsa: unsuitable TSA certificate")
	// ErrConfig: New was given something unusable.
	ErrConfig = errors.New("tsa: invalid configuration")
	// ErrRequest: a TimeStampReq (or Stamp's arguments) cannot be served;
	// the *RequestError says which PKIFailureInfo applies.
	ErrRequest = errors.New("tsa: request refused")
	// ErrMalformed: a response or token is not DER of the RFC 3161 shape.
	ErrMalformed = errors.New("tsa: malformed")
	// ErrRejected: the TSA answered with a status other than granted; the
	// *StatusError carries status and failure information.
	ErrRejected = errors.New("tsa: request rejected by the time-stamp authority")
	// ErrVerify: a token does not verify.
	ErrVerify = errors.New("tsa: time-stamp token does not verify")
)

// OIDTimeStamping is id-kp-timeStamping (RFC 5280 §4.2.1.12).
var OIDTimeStamping = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}

var oidExtKeyUsage = asn1.ObjectIdentifier{2, 5, 29, 37}

// Authority issues time-stamp tokens with one key and certificate.
type Authority struct {
	Signer crypto.Signer
	// Certificate must have a critical extendedKeyUsage holding only
	// id-kp-timeStamping (RFC 3161 §2.3); New checks.
	Certificate *x509.Certificate
	// Chain holds the issuing CA (and more) to embed, with Certificate, when
	// a request asks for certificates (certReq).
	Chain []*x509.Certificate
	// Policy is the TSA policy under which tokens are issued (RFC 3161 §2.4.2).
	Policy x509.OID
	// Accuracy is the claimed accuracy of genTime (EN 319 422 §7.3: 1 s or
	// better); 0 leaves the accuracy field out.
	Accuracy time.Duration
	// Now is the clock (time.Now by default).
	Now func() time.Time
	// Hash is the digest of the token's signature (SHA-256 by default,
	// SHA-384 for a P-384 key).
	Hash crypto.Hash
	// PSS signs with RSASSA-PSS rather than PKCS #1 v1.5 (RSA keys).
	PSS bool
	// Logger receives the causes of failed signatures (ServeHTTP).
	Logger *slog.Logger
}

// Option adjusts an Authority made by New.
type Option func(*Authority)

// WithAccuracy sets the claimed accuracy (default one second).
func WithAccuracy(d time.Duration) Option { return func(a *Authority) { a.Accuracy = d } }

// WithClock replaces time.Now (tests use a fake clock).
func WithClock(now func() time.Time) Option { return func(a *Authority) { a.Now = now } }

// WithHash sets the digest algorithm of the token signature.
func WithHash(h crypto.Hash) Option { return func(a *Authority) { a.Hash = h } }

// WithPSS makes an RSA key sign with RSASSA-PSS.
func WithPSS() Option { return func(a *Authority) { a.PSS = true } }

// WithLogger sets the logger for server-side failures.
func WithLogger(l *slog.Logger) Option { return func(a *Authority) { a.Logger = l } }

// New checks the key, certificate and policy and returns an Authority.
func New(signer crypto.Signer, cert *x509.Certificate, chain []*x509.Certificate, policy x509.OID, opts ...Option) (*Authority, error) {
	if signer == nil {
		return nil, fmt.Errorf("%w: no signer", ErrConfig)
	}
	if cert == nil {
		return nil, fmt.Errorf("%w: no TSA certificate", ErrConfig)
	}
	if !oidSet(policy) {
		return nil, fmt.Errorf("%w: no TSA policy OID", ErrConfig)
	}
	if err := CheckCertificate(cert); err != nil {
		return nil, err
	}
	if k, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !k.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("%w: the TSA certificate's public key is not the signer's", ErrConfig)
	}
	a := &Authority{Signer: signer, Certificate: cert, Chain: chain, Policy: policy, Accuracy: time.Second, Now: time.Now}
	if k, ok := signer.Public().(*ecdsa.PublicKey); ok && k.Curve == elliptic.P384() {
		a.Hash = crypto.SHA384
	} else {
		a.Hash = crypto.SHA256
	}
	for _, o := range opts {
		o(a)
	}
	if cms.HashOID(a.Hash) == nil {
		return nil, fmt.Errorf("%w: signature digest %v (use SHA-256, SHA-384 or SHA-512)", ErrConfig, a.Hash)
	}
	if a.Accuracy < 0 {
		return nil, fmt.Errorf("%w: negative accuracy %v", ErrConfig, a.Accuracy)
	}
	if a.Now == nil {
		a.Now = time.Now
	}
	if a.Logger == nil {
		a.Logger = slog.Default()
	}
	return a, nil
}

// CheckCertificate reports whether cert may sign time-stamp tokens: RFC 3161
// §2.3 wants exactly one extendedKeyUsage extension, critical, with
// id-kp-timeStamping as its only purpose.
func CheckCertificate(cert *x509.Certificate) error {
	var found int
	for _, e := range cert.Extensions {
		if e.Id.Equal(oidExtKeyUsage) {
			found++
			if !e.Critical {
				return fmt.Errorf("%w: extendedKeyUsage is not critical (RFC 3161 §2.3)", ErrCertificate)
			}
		}
	}
	if found != 1 {
		return fmt.Errorf("%w: %d extendedKeyUsage extensions, want one with id-kp-timeStamping only (RFC 3161 §2.3)", ErrCertificate, found)
	}
	if len(cert.ExtKeyUsage) != 1 || cert.ExtKeyUsage[0] != x509.ExtKeyUsageTimeStamping || len(cert.UnknownExtKeyUsage) != 0 {
		return fmt.Errorf("%w: extendedKeyUsage must hold id-kp-timeStamping only (RFC 3161 §2.3)", ErrCertificate)
	}
	return nil
}

// FailureInfo is a PKIFailureInfo bit (RFC 3161 §2.4.2).
type FailureInfo int

// The PKIFailureInfo bits RFC 3161 §2.4.2 defines.
const (
	BadAlg              FailureInfo = 0
	BadRequest          FailureInfo = 2
	BadDataFormat       FailureInfo = 5
	TimeNotAvailable    FailureInfo = 14
	UnacceptedPolicy    FailureInfo = 15
	UnacceptedExtension FailureInfo = 16
	AddInfoNotAvailable FailureInfo = 17
	SystemFailure       FailureInfo = 25
)

func (f FailureInfo) String() string {
	switch f {
	case BadAlg:
		return "badAlg"
	case BadRequest:
		return "badRequest"
	case BadDataFormat:
		return "badDataFormat"
	case TimeNotAvailable:
		return "timeNotAvailable"
	case UnacceptedPolicy:
		return "unacceptedPolicy"
	case UnacceptedExtension:
		return "unacceptedExtension"
	case AddInfoNotAvailable:
		return "addInfoNotAvailable"
	case SystemFailure:
		return "systemFailure"
	}
	return "failureInfo(" + strconv.Itoa(int(f)) + ")"
}

// RequestError is why a request cannot be served: the failure info for
// the response and a text safe to send back to the client.
type RequestError struct {
	Fail FailureInfo
	Text string
}

func (e *RequestError) Error() string {
	return "tsa: request refused: " + e.Fail.String() + ": " + e.Text
}
func (e *RequestError) Is(target error) bool { return target == ErrRequest }

func refuse(f FailureInfo, format string, args ...any) error {
	return &RequestError{Fail: f, Text: fmt.Sprintf(format, args...)}
}

// Stamp issues a TimeStampToken (a DER ContentInfo) over the message imprint
// (hash, digest): TSTInfo version 1 with this authority's policy, a random
// 128-bit serial number, genTime in UTC, accuracy, ordering false (left out
// as the DEFAULT) and nonce when given (RFC 3161 §2.4.2). With certReq the
// TSA certificate and Chain are embedded, otherwise none (§2.4.1).
// Argument errors are *RequestError (errors.Is ErrRequest).
func (a *Authority) Stamp(ctx context.Context, hash crypto.Hash, digest []byte, nonce *big.Int, certReq bool) ([]byte, error) {
	oid := cms.HashOID(hash)
	if oid == nil {
		return nil, refuse(BadAlg, "hash algorithm %v is not accepted (SHA-256, SHA-384, SHA-512)", hash)
	}
	if len(digest) != hash.Size() {
		return nil, refuse(BadDataFormat, "the %v digest is %d bytes, want %d", hash, len(digest), hash.Size())
	}
	alg, _ := asn1.Marshal(struct{ Algorithm asn1.ObjectIdentifier }{oid})
	return a.stamp(ctx, alg, digest, nonce, certReq)
}

// stamp signs a TSTInfo whose messageImprint uses the hash algorithm
// identifier alg as the request wrote it (§2.4.2: "the same value").
func (a *Authority) stamp(ctx context.Context, alg []byte, digest []byte, nonce *big.Int, certReq bool) ([]byte, error) {
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	genTime := a.Now().UTC()
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(1)
		addOID(b, a.Policy)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddBytes(alg)
			b.AddASN1OctetString(digest)
		})
		b.AddASN1BigInt(serial)
		b.AddASN1(cbasn1.GeneralizedTime, func(b *cryptobyte.Builder) {
			b.AddBytes([]byte(formatGenTime(genTime, a.Accuracy)))
		})
		if a.Accuracy > 0 {
			addAccuracy(b, a.Accuracy)
		}
		if nonce != nil {
			b.AddASN1BigInt(nonce)
		}
	})
	tst, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("%w: encoding TSTInfo: %w", ErrConfig, err)
	}
	opts := cms.SignOptions{
		Hash: a.Hash, Certificate: a.Certificate, ContentType: cms.OIDTSTInfo, Content: tst, PSS: a.PSS,
		NoCertificates: !certReq,
	}
	if certReq {
		opts.Chain = a.Chain
	}
	h := a.Hash.New()
	h.Write(tst)
	return cms.SignDigest(ctx, a.Signer, h.Sum(nil), opts)
}

// newSerial returns a random positive 128-bit serial number: unique
// without coordination between nodes (RFC 3161 §2.4.2 allows up to 160 bits).
func newSerial() (*big.Int, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("%w: random serial: %w", ErrConfig, err)
	}
	b[0] |= 0x80 // always 128 bits long
	return new(big.Int).SetBytes(b), nil
}

// formatGenTime writes genTime as DER GeneralizedTime (RFC 3161 §2.4.2:
// "YYYYMMDDhhmmss[.s...]Z", no trailing zeros in the fraction). The time is
// truncated to whole seconds unless the claimed accuracy is finer, in which
// case as many fraction digits as the accuracy needs are kept.
func formatGenTime(t time.Time, accuracy time.Duration) string {
	digits := 0
	switch {
	case accuracy <= 0 || accuracy >= time.Second:
	case accuracy >= time.Millisecond:
		digits = 3
	default:
		digits = 6
	}
	s := t.Format("20060102150405")
	if digits > 0 {
		frac := fmt.Sprintf("%09d", t.Nanosecond())[:digits]
		if frac = strings.TrimRight(frac, "0"); frac != "" {
			s += "." + frac
		}
	}
	return s + "Z"
}

// parseGenTime reads what formatGenTime writes and refuses the forms DER
// forbids (local time, offsets, trailing zeros, a comma).
func parseGenTime(s string) (time.Time, error) {
	bad := fmt.Errorf("%w: genTime %q is not a DER GeneralizedTime", ErrMalformed, s)
	if len(s) < 15 || s[len(s)-1] != 'Z' {
		return time.Time{}, bad
	}
	body := s[:len(s)-1]
	if len(body) > 14 {
		frac := body[14:]
		if len(frac) < 2 || frac[0] != '.' || frac[len(frac)-1] == '0' || len(frac) > 10 {
			return time.Time{}, bad
		}
		for _, c := range frac[1:] {
			if c < '0' || c > '9' {
				return time.Time{}, bad
			}
		}
	}
	for _, c := range body[:14] {
		if c < '0' || c > '9' {
			return time.Time{}, bad
		}
	}
	t, err := time.Parse("20060102150405.999999999Z", s)
	if err != nil {
		return time.Time{}, bad
	}
	return t, nil
}

// addAccuracy writes Accuracy (RFC 3161 §2.4.2): seconds, [0] millis and
// [1] micros, each left out when zero.
func addAccuracy(b *cryptobyte.Builder, d time.Duration) {
	secs := int64(d / time.Second)
	millis := int64(d % time.Second / time.Millisecond)
	micros := int64(d % time.Millisecond / time.Microsecond)
	if secs == 0 && millis == 0 && micros == 0 {
		micros = 1 // finer than a microsecond: claim one
	}
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		if secs > 0 {
			b.AddASN1Int64(secs)
		}
		if millis > 0 {
			b.AddASN1Int64WithTag(millis, cbasn1.Tag(0).ContextSpecific())
		}
		if micros > 0 {
			b.AddASN1Int64WithTag(micros, cbasn1.Tag(1).ContextSpecific())
		}
	})
}
