package jades

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Signature is a parsed JAdES signature. Nothing in it is trusted until
// Verify succeeds, and even then only as far as Verify goes: the
// certificate chain, its status and the time-stamp are the validator's.
type Signature struct {
	// Algorithm is the JWS alg header parameter.
	Algorithm string
	// ContentType is the cty header parameter, if any.
	ContentType string
	// Certificate is the first x5c certificate, the signing certificate;
	// nil when x5c is absent.
	Certificate *x509.Certificate
	// Chain holds the other x5c certificates, in order.
	Chain []*x509.Certificate
	// SigningTime is the claimed signing time (sigT, or iat where a
	// producer wrote that instead); zero when absent.
	SigningTime time.Time
	// Timestamp is the first signature time-stamp token (DER), nil for a
	// B-B signature; Timestamps holds every one found in sigTst elements.
	Timestamp  []byte
	Timestamps [][]byte
	// Payload is the signed content: from the signature, or the detached
	// payload given to Parse.
	Payload []byte
	// Detached reports that the signature did not carry its payload.
	Detached bool
	// Value is the JWS Signature value (for ECDSA, r||s).
	Value []byte
	// Critical lists the crit header parameter's names.
	Critical []string

	protected        map[string]json.RawMessage
	unprotected      map[string]json.RawMessage
	encodedProtected string
	encodedPayload   string
	encodedSignature string
	thumbprint       []byte // x5t#S256, nil when absent
}

// Level is the JAdES baseline level the signature carries: "B-T" with a
// signature time-stamp, "B-B" otherwise.
func (s *Signature) Level() string {
	if len(s.Timestamps) > 0 {
		return "B-T"
	}
	return "B-B"
}

// TimestampedData is what a sigTst time-stamp's message imprint is computed
// over: the base64url-encoded JWS Signature Value as it appears in the
// signature (TS 119 182-1 §5.3.4).
func (s *Signature) TimestampedData() []byte { return []byte(s.encodedSignature) }

// SigningInput is the JWS Signing Input (RFC 7515 §5.1 step 5).
func (s *Signature) SigningInput() []byte {
	return []byte(s.encodedProtected + "." + s.encodedPayload)
}

// Parse reads a JAdES signature: the flattened or general JWS JSON
// Serialization (the general one with exactly one signature) or the compact
// one. A detached signature needs its payload in detachedPayload; for an
// attached one detachedPayload must be nil. Parse checks the form only; call
// Verify.
func Parse(data []byte, detachedPayload []byte) (*Signature, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty input", ErrFormat)
	}
	var (
		protected, payload, signature string
		unprotected                   json.RawMessage
		hasPayload                    bool
	)
	if data[0] == '{' {
		var err error
		protected, unprotected, payload, signature, hasPayload, err = splitJSON(data)
		if err != nil {
			return nil, err
		}
	} else {
		parts := strings.Split(string(data), ".")
		if len(parts) != 3 {
			return nil, fmt.Errorf("%w: neither JSON nor the compact serialization (three dot-separated parts)", ErrFormat)
		}
		protected, payload, signature = parts[0], parts[1], parts[2]
		// RFC 7515 Appendix F: a detached compact JWS has an empty payload.
		hasPayload = payload != "" || detachedPayload == nil
	}

	s := &Signature{encodedProtected: protected, encodedSignature: signature}
	switch {
	case hasPayload && detachedPayload != nil:
		return nil, fmt.Errorf("%w: the signature carries its payload and a detached payload was given too", ErrFormat)
	case hasPayload:
		p, err := decodeB64URL(payload)
		if err != nil {
			return nil, fmt.Errorf("%w: payload: %w", ErrFormat, err)
		}
		s.Payload, s.encodedPayload = p, payload
	case detachedPayload == nil:
		return nil, ErrNoPayload
	default:
		s.Payload, s.Detached = detachedPayload, true
		s.encodedPayload = base64.RawURLEncoding.EncodeToString(detachedPayload)
	}
	var err error
	if s.Value, err = decodeB64URL(signature); err != nil {
		return nil, fmt.Errorf("%w: signature: %w", ErrFormat, err)
	}
	if len(s.Value) == 0 {
		return nil, fmt.Errorf("%w: empty signature value", ErrFormat)
	}
	if err := s.readProtected(); err != nil {
		return nil, err
	}
	if len(unprotected) > 0 {
		if err := s.readUnprotected(unprotected); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// splitJSON takes a JWS JSON Serialization apart (RFC 7515 §7.2). Member
// names are matched exactly (encoding/json's struct matching would accept
// "Protected" for "protected").
func splitJSON(data []byte) (protected string, unprotected json.RawMessage, payload, signature string, hasPayload bool, err error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return "", nil, "", "", false, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	if raw, ok := top["payload"]; ok {
		if err := json.Unmarshal(raw, &payload); err != nil {
			return "", nil, "", "", false, fmt.Errorf("%w: payload is not a string", ErrFormat)
		}
		hasPayload = true
	}
	sig := top
	if raw, ok := top["signatures"]; ok {
		// General serialization (§7.2.1): the per-signature members live in
		// the array, never also at the top (§7.2.2).
		for _, m := range []string{"protected", "header", "signature"} {
			if _, dup := top[m]; dup {
				return "", nil, "", "", false, fmt.Errorf("%w: %q both at the top and in signatures", ErrFormat, m)
			}
		}
		var list []map[string]json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			return "", nil, "", "", false, fmt.Errorf("%w: signatures is not an array of objects", ErrFormat)
		}
		if len(list) != 1 {
			return "", nil, "", "", false, fmt.Errorf("%w: %d signatures (one is supported)", ErrUnsupported, len(list))
		}
		sig = list[0]
	}
	if raw, ok := sig["protected"]; !ok || json.Unmarshal(raw, &protected) != nil || protected == "" {
		// JAdES puts alg, the certificate reference and sigT in the
		// protected header (TS 119 182-1 §5.1.2): it cannot be absent.
		return "", nil, "", "", false, fmt.Errorf("%w: no protected header", ErrFormat)
	}
	if raw, ok := sig["signature"]; !ok || json.Unmarshal(raw, &signature) != nil {
		return "", nil, "", "", false, fmt.Errorf("%w: no signature value", ErrFormat)
	}
	unprotected = sig["header"]
	return protected, unprotected, payload, signature, hasPayload, nil
}

func (s *Signature) readProtected() error {
	raw, err := decodeB64URL(s.encodedProtected)
	if err != nil {
		return fmt.Errorf("%w: protected header: %w", ErrFormat, err)
	}
	if err := json.Unmarshal(raw, &s.protected); err != nil || s.protected == nil {
		return fmt.Errorf("%w: protected header is not a JSON object", ErrFormat)
	}
	h := s.protected
	if err := stringParam(h, hdrAlg, &s.Algorithm); err != nil {
		return err
	}
	if s.Algorithm == "" {
		return fmt.Errorf("%w: no alg header parameter", ErrFormat)
	}
	if err := stringParam(h, hdrCty, &s.ContentType); err != nil {
		return err
	}
	if raw, ok := h[hdrB64]; ok {
		// RFC 7797: an unencoded payload changes the signing input; not
		// implemented, so refuse rather than misread.
		var b64 bool
		if json.Unmarshal(raw, &b64) != nil || !b64 {
			return fmt.Errorf("%w: unencoded payload (b64)", ErrUnsupported)
		}
	}
	var thumb string
	if err := stringParam(h, hdrX5tS256, &thumb); err != nil {
		return err
	}
	if thumb != "" {
		if s.thumbprint, err = decodeB64URL(thumb); err != nil || len(s.thumbprint) != sha256.Size {
			return fmt.Errorf("%w: x5t#S256 is not a base64url SHA-256 digest", ErrFormat)
		}
	}
	if raw, ok := h[hdrX5c]; ok {
		var certs []string
		if err := json.Unmarshal(raw, &certs); err != nil || len(certs) == 0 {
			return fmt.Errorf("%w: x5c is not a non-empty array of strings", ErrFormat)
		}
		for i, c := range certs {
			// RFC 7515 §4.1.6: base64 (not base64url) DER.
			der, err := base64.StdEncoding.Strict().DecodeString(c)
			if err != nil {
				return fmt.Errorf("%w: x5c[%d] is not base64", ErrFormat, i)
			}
			cert, err := x509.ParseCertificate(der)
			if err != nil {
				return fmt.Errorf("%w: x5c[%d]: %w", ErrFormat, i, err)
			}
			if i == 0 {
				s.Certificate = cert
			} else {
				s.Chain = append(s.Chain, cert)
			}
		}
	}
	var sigT string
	if err := stringParam(h, hdrSigT, &sigT); err != nil {
		return err
	}
	if sigT != "" {
		t, err := time.Parse(sigTLayout, sigT)
		if err != nil {
			return fmt.Errorf("%w: sigT %q is not YYYY-MM-DDThh:mm:ssZ", ErrFormat, sigT)
		}
		s.SigningTime = t
	} else if raw, ok := h[hdrIat]; ok {
		var iat int64
		if err := json.Unmarshal(raw, &iat); err != nil {
			return fmt.Errorf("%w: iat is not a NumericDate", ErrFormat)
		}
		s.SigningTime = time.Unix(iat, 0).UTC()
	}
	if raw, ok := h[hdrCrit]; ok {
		if err := json.Unmarshal(raw, &s.Critical); err != nil || len(s.Critical) == 0 {
			// RFC 7515 §4.1.11: a non-empty array of strings.
			return fmt.Errorf("%w: crit is not a non-empty array of strings", ErrFormat)
		}
	}
	return nil
}

func (s *Signature) readUnprotected(raw json.RawMessage) error {
	if err := json.Unmarshal(raw, &s.unprotected); err != nil || s.unprotected == nil {
		return fmt.Errorf("%w: header is not a JSON object", ErrFormat)
	}
	for name := range s.unprotected {
		// RFC 7515 §7.2.1: the protected and unprotected names are disjoint.
		if _, dup := s.protected[name]; dup {
			return fmt.Errorf("%w: header parameter %q both protected and unprotected", ErrFormat, name)
		}
	}
	if _, ok := s.unprotected[hdrCrit]; ok {
		// RFC 7515 §4.1.11: crit must be integrity protected.
		return fmt.Errorf("%w: crit in the unprotected header", ErrFormat)
	}
	etsiU, ok := s.unprotected[hdrEtsiU]
	if !ok {
		return nil
	}
	var elements []json.RawMessage
	if err := json.Unmarshal(etsiU, &elements); err != nil {
		return fmt.Errorf("%w: etsiU is not an array", ErrFormat)
	}
	encoded := -1 // TS 119 182-1 §5.3.1: all elements in one form
	for i, e := range elements {
		component, isString, err := etsiUComponent(e)
		if err != nil {
			return fmt.Errorf("%w: etsiU[%d]: %w", ErrFormat, i, err)
		}
		form := 0
		if isString {
			form = 1
		}
		if encoded >= 0 && form != encoded {
			return fmt.Errorf("%w: etsiU mixes base64url-encoded and clear elements", ErrFormat)
		}
		encoded = form
		rawTst, ok := component[compSigTst]
		if !ok {
			continue // other unsigned components (xVals, rVals, …) are not read
		}
		var tst map[string]json.RawMessage
		if err := json.Unmarshal(rawTst, &tst); err != nil || tst == nil {
			return fmt.Errorf("%w: etsiU[%d]: sigTst is not an object", ErrFormat, i)
		}
		var tokens []map[string]json.RawMessage
		if err := json.Unmarshal(tst[tstTokensNm], &tokens); err != nil || len(tokens) == 0 {
			return fmt.Errorf("%w: etsiU[%d]: sigTst has no tstTokens", ErrFormat, i)
		}
		for j, tok := range tokens {
			var val string
			if err := json.Unmarshal(tok["val"], &val); err != nil {
				return fmt.Errorf("%w: etsiU[%d]: tstTokens[%d] has no val", ErrFormat, i, j)
			}
			der, err := base64.StdEncoding.Strict().DecodeString(val)
			if err != nil || len(der) == 0 {
				return fmt.Errorf("%w: etsiU[%d]: tstTokens[%d] val is not base64", ErrFormat, i, j)
			}
			s.Timestamps = append(s.Timestamps, der)
		}
	}
	if len(s.Timestamps) > 0 {
		s.Timestamp = s.Timestamps[0]
	}
	return nil
}

// etsiUComponent reads one etsiU element: a JSON object with a single
// member, in clear or as a base64url-encoded string.
func etsiUComponent(e json.RawMessage) (component map[string]json.RawMessage, isString bool, err error) {
	body := []byte(e)
	var encoded string
	if json.Unmarshal(e, &encoded) == nil {
		if body, err = decodeB64URL(encoded); err != nil {
			return nil, true, err
		}
		isString = true
	}
	if err := json.Unmarshal(body, &component); err != nil || len(component) != 1 {
		return nil, isString, fmt.Errorf("not a JSON object with one member")
	}
	return component, isString, nil
}

// Verify checks the signature value with the signing certificate's key, the
// x5t#S256 reference to that certificate, and the crit rules (RFC 7515
// §4.1.11; TS 119 182-1 §5.2.1 puts sigT in crit). It does not judge the
// certificate: see package eidp/signing/verify.
func (s *Signature) Verify() error {
	for _, name := range s.Critical {
		if !understoodCritical[name] {
			return fmt.Errorf("%w: critical header parameter %q", ErrUnsupported, name)
		}
		if _, ok := s.protected[name]; !ok {
			return fmt.Errorf("%w: crit names %q, which the protected header lacks", ErrFormat, name)
		}
	}
	if _, ok := s.protected[hdrSigT]; ok && !slices.Contains(s.Critical, hdrSigT) {
		return fmt.Errorf("%w: sigT is not listed in crit", ErrFormat)
	}
	if s.Certificate == nil {
		return fmt.Errorf("%w: no x5c certificate", ErrSigningCertificate)
	}
	if s.thumbprint == nil {
		return fmt.Errorf("%w: no x5t#S256 reference", ErrSigningCertificate)
	}
	sum := sha256.Sum256(s.Certificate.Raw)
	if subtle.ConstantTimeCompare(sum[:], s.thumbprint) != 1 {
		return fmt.Errorf("%w: x5t#S256 does not match the x5c certificate", ErrSigningCertificate)
	}
	alg, ok := algorithms[s.Algorithm]
	if !ok {
		return fmt.Errorf("%w: algorithm %q", ErrUnsupported, s.Algorithm)
	}
	return alg.verify(s.Certificate.PublicKey, s.SigningInput(), s.Value)
}

// stringParam reads an optional string header parameter.
func stringParam(h map[string]json.RawMessage, name string, dst *string) error {
	raw, ok := h[name]
	if !ok {
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return fmt.Errorf("%w: %s is not a string", ErrFormat, name)
	}
	return nil
}

// decodeB64URL decodes unpadded base64url (RFC 7515 §2), refusing
// non-canonical encodings so that one signature has one spelling.
func decodeB64URL(s string) ([]byte, error) {
	return base64.RawURLEncoding.Strict().DecodeString(s)
}
