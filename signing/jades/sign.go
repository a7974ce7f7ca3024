package jades

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// SignOptions says how to sign.
type SignOptions struct {
	// Certificate is the signing certificate; its key must be the signer's.
	Certificate *x509.Certificate
	// Chain is the rest of the certificate path (issuing CA first), put in
	// x5c after the signing certificate. The root may be left out.
	Chain []*x509.Certificate
	// SigningTime is the claimed signing time (sigT); zero means now. It is
	// written in UTC to the second.
	SigningTime time.Time
	// ContentType becomes the cty header parameter when not empty, for
	// example "json" (RFC 7515 §4.1.10 recommends leaving out "application/").
	ContentType string
	// Detached leaves the payload out of the signature (RFC 7515 Appendix
	// F); the verifier supplies it.
	Detached bool
	// Timestamp, when set, obtains an RFC 3161 time-stamp token (DER
	// ContentInfo) over digest, computed with hash: the signature becomes
	// B-T. Nil makes a B-B signature.
	Timestamp func(ctx context.Context, hash crypto.Hash, digest []byte) ([]byte, error)
	// Algorithm chooses the JWS algorithm for RSA keys: "PS256" (the
	// default) or "RS256". For ECDSA keys the curve decides; a different
	// value here is an error.
	Algorithm string
}

// timestampHash is the hash the sigTst message imprint is computed with.
const timestampHash = crypto.SHA256

// contextSigner is a crypto.Signer whose calls a context can bound, such as
// hsm.Signer.
type contextSigner interface {
	SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error)
}

// Sign signs payload with signer and returns the JAdES signature in the
// flattened JWS JSON Serialization.
func Sign(ctx context.Context, signer crypto.Signer, payload []byte, opts SignOptions) ([]byte, error) {
	if signer == nil {
		return nil, fmt.Errorf("%w: no signer", ErrOptions)
	}
	cert := opts.Certificate
	if cert == nil {
		return nil, fmt.Errorf("%w: no signing certificate", ErrOptions)
	}
	pub := signer.Public()
	if k, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !k.Equal(pub) {
		return nil, fmt.Errorf("%w: the signing certificate (serial %s) is not for the signer's key", ErrOptions, cert.SerialNumber)
	}
	alg, err := algorithmForKey(pub, opts.Algorithm)
	if err != nil {
		return nil, err
	}
	signingTime := opts.SigningTime
	if signingTime.IsZero() {
		signingTime = time.Now()
	}
	x5c := make([]string, 0, 1+len(opts.Chain))
	x5c = append(x5c, base64.StdEncoding.EncodeToString(cert.Raw))
	for i, c := range opts.Chain {
		if c == nil {
			return nil, fmt.Errorf("%w: chain certificate %d is nil", ErrOptions, i)
		}
		x5c = append(x5c, base64.StdEncoding.EncodeToString(c.Raw))
	}
	thumb := sha256.Sum256(cert.Raw)
	header, err := json.Marshal(protectedHeader{
		Alg:     alg.name,
		Cty:     opts.ContentType,
		X5tS256: base64.RawURLEncoding.EncodeToString(thumb[:]),
		X5c:     x5c,
		SigT:    signingTime.UTC().Format(sigTLayout),
		Crit:    []string{hdrSigT},
	})
	if err != nil {
		return nil, fmt.Errorf("jades: encoding the protected header: %w", err)
	}
	protected := base64.RawURLEncoding.EncodeToString(header)
	encodedPayload := base64.RawURLEncoding.EncodeToString(payload)
	input := []byte(protected + "." + encodedPayload) // RFC 7515 §5.1 step 5

	sig, err := signInput(ctx, signer, alg, input)
	if err != nil {
		return nil, err
	}
	if err := alg.verify(pub, input, sig); err != nil {
		return nil, fmt.Errorf("jades: the signer produced a signature that does not verify: %w", err)
	}
	out := flattened{Protected: protected, Signature: base64.RawURLEncoding.EncodeToString(sig)}
	if !opts.Detached {
		out.Payload = &encodedPayload
	}
	if opts.Timestamp != nil {
		element, err := signatureTimestamp(ctx, opts.Timestamp, out.Signature)
		if err != nil {
			return nil, err
		}
		out.Header = &unprotectedHeader{EtsiU: []string{element}}
	}
	return json.Marshal(out)
}

// signatureTimestamp obtains a time-stamp over the base64url JWS Signature
// Value (TS 119 182-1 §5.3.4) and returns the etsiU element carrying it,
// base64url-encoded.
func signatureTimestamp(ctx context.Context, stamp func(context.Context, crypto.Hash, []byte) ([]byte, error), encodedSignature string) (string, error) {
	h := timestampHash.New()
	h.Write([]byte(encodedSignature))
	token, err := stamp(ctx, timestampHash, h.Sum(nil))
	if err != nil {
		return "", fmt.Errorf("jades: signature time-stamp: %w", err)
	}
	if len(token) == 0 {
		return "", fmt.Errorf("jades: signature time-stamp: the time-stamp authority returned no token")
	}
	element, err := json.Marshal(map[string]sigTst{compSigTst: {TstTokens: []tstToken{{Val: base64.StdEncoding.EncodeToString(token)}}}})
	if err != nil {
		return "", fmt.Errorf("jades: encoding sigTst: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(element), nil
}

// signInput hashes input and signs it, returning the signature in JWS form.
func signInput(ctx context.Context, signer crypto.Signer, alg algorithm, input []byte) ([]byte, error) {
	digest := alg.digest(input)
	var sig []byte
	var err error
	if cs, ok := signer.(contextSigner); ok {
		sig, err = cs.SignContext(ctx, digest, alg.signerOpts())
	} else {
		sig, err = signer.Sign(rand.Reader, digest, alg.signerOpts())
	}
	if err != nil {
		return nil, fmt.Errorf("jades: signing: %w", err)
	}
	if alg.ecdsa() {
		return ecdsaDERToJWS(sig, alg.size)
	}
	return sig, nil
}

// ecdsaDERToJWS turns a crypto.Signer's ASN.1 DER ECDSA signature into the
// fixed-size r||s of RFC 7518 §3.4.
func ecdsaDERToJWS(der []byte, size int) ([]byte, error) {
	var v struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &v)
	if err != nil || len(rest) > 0 || v.R == nil || v.S == nil || v.R.Sign() <= 0 || v.S.Sign() <= 0 {
		return nil, errors.New("jades: the signer returned a malformed ECDSA signature (want ASN.1 DER)")
	}
	if v.R.BitLen() > 8*size || v.S.BitLen() > 8*size {
		return nil, errors.New("jades: the signer's ECDSA signature is too long for the curve")
	}
	out := make([]byte, 2*size)
	v.R.FillBytes(out[:size])
	v.S.FillBytes(out[size:])
	return out, nil
}

// protectedHeader is the JWS Protected Header Sign writes, in this order.
type protectedHeader struct {
	Alg     string   `json:"alg"`
	Cty     string   `json:"cty,omitempty"`
	X5tS256 string   `json:"x5t#S256"`
	X5c     []string `json:"x5c"`
	SigT    string   `json:"sigT"`
	Crit    []string `json:"crit"`
}

// flattened is the flattened JWS JSON Serialization (RFC 7515 §7.2.2).
type flattened struct {
	Payload   *string            `json:"payload,omitempty"`
	Protected string             `json:"protected"`
	Header    *unprotectedHeader `json:"header,omitempty"`
	Signature string             `json:"signature"`
}

type unprotectedHeader struct {
	EtsiU []string `json:"etsiU"`
}

// sigTst is the signature time-stamp container (TS 119 182-1 §5.3.4).
type sigTst struct {
	TstTokens []tstToken `json:"tstTokens"`
}

// tstToken carries one DER time-stamp token, base64 (TS 119 182-1 §5.3.2,
// the tstContainer type).
type tstToken struct {
	Val string `json:"val"`
}
