package pkcs11

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	"eidp/hsm"
)

// This file holds the pure-Go conversions between PKCS #11 byte formats and
// Go's crypto types. It needs no cgo, so it is tested in every build.

// Named-curve OIDs written to CKA_EC_PARAMS (PKCS #11 v2.40 Current
// Mechanisms §2.3.3: DER of an ECParameters choice, here namedCurve).
var (
	oidP256    = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7} // RFC 5480 §2.1.1.1 secp256r1
	oidP384    = asn1.ObjectIdentifier{1, 3, 132, 0, 34}          // RFC 5480 §2.1.1.1 secp384r1
	oidEd25519 = asn1.ObjectIdentifier{1, 3, 101, 112}            // RFC 8410 §3 id-Ed25519
)

// ecParams returns the DER CKA_EC_PARAMS for an EC or Edwards algorithm.
func ecParams(alg hsm.Algorithm) ([]byte, error) {
	var oid asn1.ObjectIdentifier
	switch alg {
	case hsm.ECP256:
		oid = oidP256
	case hsm.ECP384:
		oid = oidP384
	case hsm.Ed25519:
		oid = oidEd25519
	default:
		return nil, fmt.Errorf("pkcs11: %w: %s has no EC parameters", hsm.ErrUnsupportedAlgorithm, alg)
	}
	return asn1.Marshal(oid)
}

// algorithmFromECParams maps CKA_EC_PARAMS back to an algorithm. Besides a
// namedCurve OID it accepts the PrintableString curve name "edwards25519"
// that PKCS #11 v3.0 §2.3.10 allows for Edwards keys made by other tools.
func algorithmFromECParams(params []byte) (hsm.Algorithm, error) {
	var oid asn1.ObjectIdentifier
	if rest, err := asn1.Unmarshal(params, &oid); err == nil && len(rest) == 0 {
		switch {
		case oid.Equal(oidP256):
			return hsm.ECP256, nil
		case oid.Equal(oidP384):
			return hsm.ECP384, nil
		case oid.Equal(oidEd25519):
			return hsm.Ed25519, nil
		}
		return "", fmt.Errorf("pkcs11: %w: curve %s", hsm.ErrUnsupportedAlgorithm, oid)
	}
	var name string
	if rest, err := asn1.UnmarshalWithParams(params, &name, "printable"); err == nil && len(rest) == 0 {
		if name == "edwards25519" {
			return hsm.Ed25519, nil
		}
		return "", fmt.Errorf("pkcs11: %w: curve %q", hsm.ErrUnsupportedAlgorithm, name)
	}
	return "", fmt.Errorf("pkcs11: %w: CKA_EC_PARAMS is neither a curve OID nor a curve name", hsm.ErrUnsupportedAlgorithm)
}

// curveSize is the byte length of one coordinate (and of r and s).
func curveSize(alg hsm.Algorithm) int {
	switch alg {
	case hsm.ECP256:
		return 32
	case hsm.ECP384:
		return 48
	case hsm.Ed25519:
		return ed25519.PublicKeySize
	}
	return 0
}

// publicFromECPoint decodes CKA_EC_POINT. PKCS #11 v2.40 Current Mechanisms
// §2.3.3 says it is the DER OCTET STRING of the X9.62 point; some tokens
// return the bare point, so both are accepted, told apart by length (the two
// lengths always differ, so a bare point is never misread as DER).
func publicFromECPoint(alg hsm.Algorithm, point []byte) (crypto.PublicKey, error) {
	want := 1 + 2*curveSize(alg) // 0x04 || X || Y
	if alg == hsm.Ed25519 {
		want = ed25519.PublicKeySize // RFC 8032 §5.1.5 encoding
	}
	raw := point
	if len(point) != want {
		var inner []byte
		rest, err := asn1.Unmarshal(point, &inner)
		if err != nil || len(rest) != 0 || len(inner) != want {
			return nil, fmt.Errorf("pkcs11: CKA_EC_POINT of a %s key has %d bytes, want %d or its DER OCTET STRING", alg, len(point), want)
		}
		raw = inner
	}
	switch alg {
	case hsm.ECP256, hsm.ECP384:
		curve := elliptic.P256()
		if alg == hsm.ECP384 {
			curve = elliptic.P384()
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, raw)
		if err != nil {
			return nil, fmt.Errorf("pkcs11: CKA_EC_POINT of a %s key: %w", alg, err)
		}
		return pub, nil
	case hsm.Ed25519:
		return ed25519.PublicKey(append([]byte(nil), raw...)), nil
	}
	return nil, fmt.Errorf("pkcs11: %w: %s has no EC point", hsm.ErrUnsupportedAlgorithm, alg)
}

// publicFromRSA builds an RSA public key from CKA_MODULUS and
// CKA_PUBLIC_EXPONENT (big-endian integers, PKCS #11 v2.40 Current
// Mechanisms §2.1.2) and names its algorithm from the modulus size.
func publicFromRSA(modulus, exponent []byte) (*rsa.PublicKey, hsm.Algorithm, error) {
	n := new(big.Int).SetBytes(modulus)
	e := new(big.Int).SetBytes(exponent)
	if n.Sign() == 0 || !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 {
		return nil, "", errors.New("pkcs11: RSA key with an invalid modulus or public exponent")
	}
	pub := &rsa.PublicKey{N: n, E: int(e.Int64())}
	switch n.BitLen() {
	case 2048:
		return pub, hsm.RSA2048, nil
	case 3072:
		return pub, hsm.RSA3072, nil
	}
	return nil, "", fmt.Errorf("pkcs11: %w: RSA key of %d bits", hsm.ErrUnsupportedAlgorithm, n.BitLen())
}

// ecdsaDER turns the r||s that CKM_ECDSA returns (PKCS #11 v2.40 Current
// Mechanisms §2.3.1: "the concatenation of r and s", each the byte length of
// the curve order) into the ASN.1 Ecdsa-Sig-Value of RFC 3279 §2.2.3 that
// crypto.Signer callers expect.
func ecdsaDER(rs []byte, size int) ([]byte, error) {
	if len(rs) != 2*size {
		return nil, fmt.Errorf("pkcs11: CKM_ECDSA returned %d bytes, want %d", len(rs), 2*size)
	}
	return asn1.Marshal(struct{ R, S *big.Int }{
		R: new(big.Int).SetBytes(rs[:size]),
		S: new(big.Int).SetBytes(rs[size:]),
	})
}

// digestAlgorithmOIDs are the hash OIDs of RFC 8017 Appendix B.1 used in the
// PKCS #1 v1.5 DigestInfo.
var digestAlgorithmOIDs = map[crypto.Hash]asn1.ObjectIdentifier{
	crypto.SHA256: {2, 16, 840, 1, 101, 3, 4, 2, 1},
	crypto.SHA384: {2, 16, 840, 1, 101, 3, 4, 2, 2},
	crypto.SHA512: {2, 16, 840, 1, 101, 3, 4, 2, 3},
}

// digestInfo encodes the DigestInfo of RFC 8017 §9.2 step 2. CKM_RSA_PKCS
// only pads (PKCS #11 v2.40 Current Mechanisms §2.1.6), so the caller's hash
// must be wrapped here first.
func digestInfo(h crypto.Hash, digest []byte) ([]byte, error) {
	oid, ok := digestAlgorithmOIDs[h]
	if !ok {
		return nil, fmt.Errorf("pkcs11: %w: RSA PKCS #1 v1.5 with hash %v (want SHA-256, SHA-384 or SHA-512)", hsm.ErrUnsupportedAlgorithm, h)
	}
	if len(digest) != h.Size() {
		return nil, fmt.Errorf("pkcs11: digest has %d bytes, %v needs %d", len(digest), h, h.Size())
	}
	type algorithmIdentifier struct {
		Algorithm  asn1.ObjectIdentifier
		Parameters asn1.RawValue
	}
	return asn1.Marshal(struct {
		Algorithm algorithmIdentifier
		Digest    []byte
	}{algorithmIdentifier{oid, asn1.NullRawValue}, digest})
}

// pssSaltLength resolves rsa.PSSOptions.SaltLength to the explicit sLen of
// CK_RSA_PKCS_PSS_PARAMS (PKCS #11 v2.40 Current Mechanisms §2.1.9). Tokens
// reject a zero or "auto" length, so both mean the hash length, which is also
// what JOSE PS256/384/512 require (RFC 7518 §3.5).
func pssSaltLength(opts *rsa.PSSOptions, h crypto.Hash) (int, error) {
	switch s := opts.SaltLength; {
	case s == rsa.PSSSaltLengthEqualsHash || s == rsa.PSSSaltLengthAuto:
		return h.Size(), nil
	case s > 0:
		return s, nil
	default:
		return 0, fmt.Errorf("pkcs11: invalid PSS salt length %d", s)
	}
}
