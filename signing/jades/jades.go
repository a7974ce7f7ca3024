package jades

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	_ "crypto/sha256" // SHA-256 for ES256, RS256, PS256, x5t#S256 and time-stamp imprints
	_ "crypto/sha512" // SHA-384 and SHA-512 for ES384, ES512
	"errors"
	"fmt"
	"math/big"
)

// Sentinel errors. Callers compare with errors.Is; the wrapping error says
// what was wrong.
var (
	// ErrOptions means Sign was called with options it cannot use.
	ErrOptions = errors.New("jades: invalid sign options")
	// ErrFormat means the input is not a well-formed JWS or JAdES signature.
	ErrFormat = errors.New("jades: malformed signature")
	// ErrUnsupported means a well-formed signature uses something this
	// package does not implement (an algorithm, a critical header
	// parameter, several signatures, an unencoded payload).
	ErrUnsupported = errors.New("jades: unsupported signature feature")
	// ErrNoPayload means the signature is detached and no payload was given.
	ErrNoPayload = errors.New("jades: detached signature and no payload given")
	// ErrSigningCertificate means the signing certificate is missing or its
	// reference (x5t#S256) does not match it.
	ErrSigningCertificate = errors.New("jades: signing certificate missing or not the referenced one")
	// ErrSignature means the signature value does not verify with the
	// signing certificate's key.
	ErrSignature = errors.New("jades: signature value does not verify")
)

// sigTLayout is the claimed signing time's format (TS 119 182-1 §5.2.1).
const sigTLayout = "2006-01-02T15:04:05Z"

// Header parameter names used here.
const (
	hdrAlg      = "alg"
	hdrCty      = "cty"
	hdrX5tS256  = "x5t#S256"
	hdrX5c      = "x5c"
	hdrSigT     = "sigT"
	hdrIat      = "iat"
	hdrCrit     = "crit"
	hdrB64      = "b64"
	hdrEtsiU    = "etsiU"
	compSigTst  = "sigTst"
	tstTokensNm = "tstTokens"
)

// understoodCritical are the header parameters this package can process
// when they are listed in crit (RFC 7515 §4.1.11).
var understoodCritical = map[string]bool{hdrSigT: true}

// algorithm is a JWS signature algorithm (RFC 7518 §3.1).
type algorithm struct {
	name  string
	hash  crypto.Hash
	pss   bool           // RSASSA-PSS rather than PKCS#1 v1.5 (RSA only)
	curve elliptic.Curve // ECDSA only
	size  int            // ECDSA: byte length of r and of s (RFC 7518 §3.4)
}

func (a algorithm) ecdsa() bool { return a.curve != nil }

var algorithms = map[string]algorithm{
	"ES256": {name: "ES256", hash: crypto.SHA256, curve: elliptic.P256(), size: 32},
	"ES384": {name: "ES384", hash: crypto.SHA384, curve: elliptic.P384(), size: 48},
	"ES512": {name: "ES512", hash: crypto.SHA512, curve: elliptic.P521(), size: 66},
	"RS256": {name: "RS256", hash: crypto.SHA256},
	"RS384": {name: "RS384", hash: crypto.SHA384},
	"RS512": {name: "RS512", hash: crypto.SHA512},
	"PS256": {name: "PS256", hash: crypto.SHA256, pss: true},
	"PS384": {name: "PS384", hash: crypto.SHA384, pss: true},
	"PS512": {name: "PS512", hash: crypto.SHA512, pss: true},
}

// minRSABits is the smallest RSA modulus accepted (RFC 7518 §3.3, §3.5).
const minRSABits = 2048

// algorithmForKey picks the algorithm for signing with pub: the ECDSA
// algorithm fixed by the curve, or for RSA the requested one (PS256 when
// none is named).
func algorithmForKey(pub crypto.PublicKey, requested string) (algorithm, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		for _, a := range algorithms {
			if a.ecdsa() && a.curve == k.Curve {
				if requested != "" && requested != a.name {
					return algorithm{}, fmt.Errorf("%w: algorithm %s does not fit a %s key (use %s)", ErrOptions, requested, k.Curve.Params().Name, a.name)
				}
				return a, nil
			}
		}
		return algorithm{}, fmt.Errorf("%w: ECDSA curve %s", ErrUnsupported, k.Curve.Params().Name)
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return algorithm{}, fmt.Errorf("%w: RSA key of %d bits (at least %d)", ErrUnsupported, k.N.BitLen(), minRSABits)
		}
		if requested == "" {
			requested = "PS256"
		}
		a, ok := algorithms[requested]
		if !ok || a.ecdsa() {
			return algorithm{}, fmt.Errorf("%w: algorithm %q does not fit an RSA key (use PS256 or RS256)", ErrOptions, requested)
		}
		return a, nil
	default:
		return algorithm{}, fmt.Errorf("%w: key type %T", ErrUnsupported, pub)
	}
}

// checkKey reports whether pub is a key alg can verify with.
func (a algorithm) checkKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if a.ecdsa() && k.Curve == a.curve {
			return nil
		}
	case *rsa.PublicKey:
		if !a.ecdsa() {
			if k.N.BitLen() < minRSABits {
				return fmt.Errorf("%w: RSA key of %d bits", ErrUnsupported, k.N.BitLen())
			}
			return nil
		}
	}
	return fmt.Errorf("%w: algorithm %s does not fit the certificate's %T key", ErrSignature, a.name, pub)
}

func (a algorithm) signerOpts() crypto.SignerOpts {
	if a.pss {
		// RFC 7518 §3.5: the salt is as long as the hash.
		return &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: a.hash}
	}
	return a.hash
}

func (a algorithm) digest(input []byte) []byte {
	h := a.hash.New()
	h.Write(input)
	return h.Sum(nil)
}

// verify checks sig, in JWS form, over input with pub.
func (a algorithm) verify(pub crypto.PublicKey, input, sig []byte) error {
	if err := a.checkKey(pub); err != nil {
		return err
	}
	digest := a.digest(input)
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if len(sig) != 2*a.size {
			return fmt.Errorf("%w: %s signature of %d bytes, want %d", ErrSignature, a.name, len(sig), 2*a.size)
		}
		r := new(big.Int).SetBytes(sig[:a.size])
		s := new(big.Int).SetBytes(sig[a.size:])
		if !ecdsa.Verify(k, digest, r, s) {
			return ErrSignature
		}
	case *rsa.PublicKey:
		var err error
		if a.pss {
			err = rsa.VerifyPSS(k, a.hash, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: a.hash})
		} else {
			err = rsa.VerifyPKCS1v15(k, a.hash, digest, sig)
		}
		if err != nil {
			return ErrSignature
		}
	}
	return nil
}
