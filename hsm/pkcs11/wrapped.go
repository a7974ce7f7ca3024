//go:build cgo

package pkcs11

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"errors"
	"fmt"
	"slices"

	p11 "github.com/miekg/pkcs11"

	"eidp/hsm"
)

var _ hsm.KeyWrapper = (*Backend)(nil)

// wrappedBlobVersion is the first byte of every blob this backend wraps; the
// rest is the output of CKM_AES_KEY_WRAP_PAD. A later format gets another
// byte, and hsm/soft blobs (which start differently) are refused clearly.
const wrappedBlobVersion = 0x50 // 'P'

// wrappedAlgorithms are the algorithms GenerateWrapped makes. Ed25519 is
// left out: PKCS #8 wrapping of Edwards keys varies between tokens, and
// residents' keys are ECDSA.
var wrappedAlgorithms = []hsm.Algorithm{hsm.ECP256, hsm.ECP384, hsm.RSA2048, hsm.RSA3072}

// GenerateWrapped generates a key pair as session objects (CKA_TOKEN false),
// the private half sensitive but extractable, reads the public key, wraps
// the private key with CKM_AES_KEY_WRAP_PAD (RFC 5649; PKCS #11 v2.40
// Current Mechanisms §2.14.3) under the AES-256 key at wrappingKeyURI and
// destroys both objects. The token holds nothing of the new key afterwards.
//
// Blob is version(1) || AES-KWP(PKCS #8 private key). KWP authenticates the
// wrapped key (its integrity check value); what binds it to Public is
// SignWrapped's check of every signature under Public.
func (b *Backend) GenerateWrapped(ctx context.Context, wrappingKeyURI string, alg hsm.Algorithm) (hsm.WrappedKey, error) {
	kek, err := b.aesKey(ctx, wrappingKeyURI, "only AES-256 keys wrap keys")
	if err != nil {
		return hsm.WrappedKey{}, err
	}
	if !slices.Contains(wrappedAlgorithms, alg) || !slices.Contains(b.caps, alg) {
		return hsm.WrappedKey{}, fmt.Errorf("pkcs11: token %q: %w: cannot make a wrapped %q key (wrapped keys on this token: %v)",
			b.token.Label, hsm.ErrUnsupportedAlgorithm, alg, b.wrappedCapabilities())
	}
	var key hsm.WrappedKey
	err = b.withKey(ctx, kek.id, func(h p11.SessionHandle, e *keyEntry) error {
		var err error
		key, err = b.generateWrapped(h, e.handle, alg)
		return staleWrappingHandle(err)
	})
	if err != nil {
		return hsm.WrappedKey{}, b.wrapOpErr("generating a wrapped "+string(alg)+" key under", kek.uri, wrappingKeyGone(err))
	}
	return key, nil
}

func (b *Backend) wrappedCapabilities() []hsm.Algorithm {
	var algs []hsm.Algorithm
	for _, a := range wrappedAlgorithms {
		if slices.Contains(b.caps, a) {
			algs = append(algs, a)
		}
	}
	return algs
}

func (b *Backend) generateWrapped(h p11.SessionHandle, kek p11.ObjectHandle, alg hsm.Algorithm) (hsm.WrappedKey, error) {
	if !slices.Contains(wrappedAlgorithms, alg) {
		return hsm.WrappedKey{}, fmt.Errorf("%w: %q", hsm.ErrUnsupportedAlgorithm, alg)
	}
	mech, keyType, pubAttr, err := keyPairMechanism(alg)
	if err != nil {
		return hsm.WrappedKey{}, err
	}
	pubTemplate := append([]*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PUBLIC_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, keyType),
		p11.NewAttribute(p11.CKA_TOKEN, false),
		p11.NewAttribute(p11.CKA_PRIVATE, false),
		p11.NewAttribute(p11.CKA_VERIFY, true),
		p11.NewAttribute(p11.CKA_ENCRYPT, false),
		p11.NewAttribute(p11.CKA_WRAP, false),
	}, pubAttr...)
	// A session object (PKCS #11 v2.40 Base §4.4 CKA_TOKEN false) that is
	// sensitive — its value never leaves the token in the clear — but
	// extractable, so that C_WrapKey may export it encrypted (§4.9).
	privTemplate := []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PRIVATE_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, keyType),
		p11.NewAttribute(p11.CKA_TOKEN, false),
		p11.NewAttribute(p11.CKA_PRIVATE, true),
		p11.NewAttribute(p11.CKA_SENSITIVE, true),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, true),
		p11.NewAttribute(p11.CKA_SIGN, true),
		p11.NewAttribute(p11.CKA_DECRYPT, false),
		p11.NewAttribute(p11.CKA_DERIVE, false),
		p11.NewAttribute(p11.CKA_UNWRAP, false),
	}
	pub, priv, err := b.mod.ctx.GenerateKeyPair(h, []*p11.Mechanism{p11.NewMechanism(mech, nil)}, pubTemplate, privTemplate)
	if err != nil {
		return hsm.WrappedKey{}, fmt.Errorf("C_GenerateKeyPair: %w", err)
	}
	destroyErr := func() error {
		return errors.Join(b.destroySessionObject(h, priv), b.destroySessionObject(h, pub))
	}
	public, err := b.sessionPublicKey(h, pub, alg)
	if err != nil {
		return hsm.WrappedKey{}, errors.Join(err, destroyErr())
	}
	// PKCS #11 v2.40 Base §5.16 C_WrapKey.
	wrapped, err := b.mod.ctx.WrapKey(h, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_KEY_WRAP_PAD, nil)}, kek, priv)
	if notAWrappingKey(err) {
		err = fmt.Errorf("%w: the AES key may not wrap (CKA_WRAP false: AES keys created before eidp supported wrapped keys); "+
			"use a signing-kek key: C_WrapKey: %w", hsm.ErrWrongKeyType, err)
	} else if err != nil {
		err = fmt.Errorf("C_WrapKey: %w", err)
	}
	if err != nil {
		return hsm.WrappedKey{}, errors.Join(err, destroyErr())
	}
	if err := destroyErr(); err != nil {
		return hsm.WrappedKey{}, err
	}
	blob := make([]byte, 0, 1+len(wrapped))
	blob = append(append(blob, wrappedBlobVersion), wrapped...)
	return hsm.WrappedKey{Algorithm: alg, Public: public, Blob: blob}, nil
}

// sessionPublicKey reads the public key of a freshly generated public object.
func (b *Backend) sessionPublicKey(h p11.SessionHandle, pub p11.ObjectHandle, alg hsm.Algorithm) (crypto.PublicKey, error) {
	if alg == hsm.ECP256 || alg == hsm.ECP384 {
		v, err := b.attributes(h, pub, p11.CKA_EC_POINT)
		if err != nil {
			return nil, err
		}
		return publicFromECPoint(alg, v[p11.CKA_EC_POINT])
	}
	v, err := b.attributes(h, pub, p11.CKA_MODULUS, p11.CKA_PUBLIC_EXPONENT)
	if err != nil {
		return nil, err
	}
	pk, got, err := publicFromRSA(v[p11.CKA_MODULUS], v[p11.CKA_PUBLIC_EXPONENT])
	if err != nil {
		return nil, err
	}
	if got != alg {
		return nil, fmt.Errorf("the token made an %s key when asked for %s", got, alg)
	}
	return pk, nil
}

// destroySessionObject destroys an object this backend made for one
// operation. On a dead session there is nothing to destroy: session objects
// end with their session (PKCS #11 v2.40 Base §4.4).
func (b *Backend) destroySessionObject(h p11.SessionHandle, o p11.ObjectHandle) error {
	err := b.mod.ctx.DestroyObject(h, o)
	if err == nil || isDeadSession(err) || isStaleHandle(err) {
		return nil
	}
	return fmt.Errorf("C_DestroyObject of a session key: %w", err)
}

// SignWrapped unwraps key.Blob with CKM_AES_KEY_WRAP_PAD under the AES-256
// key at wrappingKeyURI into a session object (CKA_TOKEN false, sensitive,
// not extractable, CKA_SIGN only), signs with it on the same pooled session,
// destroys it, and checks the signature under key.Public.
//
// That check is what binds the blob to the public key: a private key object
// has no CKA_EC_POINT, so the token cannot say whose key it unwrapped, and
// KWP authenticates only the wrapped bytes. A blob presented with another
// public key (a record swapped in the database, say) fails with
// hsm.ErrUnwrap and its signature is discarded. Verifying also catches a
// faulty signature before it leaves (the classic guard for RSA-CRT faults).
// Its cost is one verification in Go, small next to the unwrap.
//
// On SoftHSM 2.6 C_UnwrapKey is most of the cost (about 1–2 ms for a P-256
// key against 0.15 ms for the signature, on 2 busy cores), and SoftHSM keeps
// every destroyed session object in memory until C_Finalize
// (SessionObjectStore.allObjects): about 1 KB per GenerateWrapped or
// SignWrapped (measured: +5.8 MB RSS over 5,000 signatures). Fine for
// development and tests; production needs a real HSM.
func (b *Backend) SignWrapped(ctx context.Context, wrappingKeyURI string, key hsm.WrappedKey, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	kek, err := b.aesKey(ctx, wrappingKeyURI, "only AES-256 keys wrap keys")
	if err != nil {
		return nil, err
	}
	if _, err := key.Binding(); err != nil {
		return nil, fmt.Errorf("pkcs11: signing with a wrapped key: %w", err)
	}
	if !slices.Contains(wrappedAlgorithms, key.Algorithm) {
		return nil, fmt.Errorf("pkcs11: %w: wrapped %s keys", hsm.ErrUnsupportedAlgorithm, key.Algorithm)
	}
	wrapped, err := parseWrappedBlob(key.Blob)
	if err != nil {
		return nil, err
	}
	// The mechanism and input are those of a token key (signer.go).
	mech, input, err := (&signer{alg: key.Algorithm}).mechanism(digest, opts)
	if err != nil {
		return nil, err
	}
	keyType := uint(p11.CKK_EC)
	if key.Algorithm == hsm.RSA2048 || key.Algorithm == hsm.RSA3072 {
		keyType = p11.CKK_RSA
	}
	var sig []byte
	err = b.withKey(ctx, kek.id, func(h p11.SessionHandle, e *keyEntry) error {
		var err error
		sig, err = b.unwrapAndSign(h, e.handle, keyType, wrapped, mech, input)
		return staleWrappingHandle(err)
	})
	if err != nil {
		return nil, b.wrapOpErr("signing with a wrapped key under", kek.uri, wrappingKeyGone(err))
	}
	if key.Algorithm == hsm.ECP256 || key.Algorithm == hsm.ECP384 {
		if sig, err = ecdsaDER(sig, curveSize(key.Algorithm)); err != nil {
			return nil, err
		}
	}
	if err := verifyWrapped(key, digest, opts, sig); err != nil {
		return nil, fmt.Errorf("pkcs11: %w: the blob unwrapped under %s is not the private key of the public key given (%v)", hsm.ErrUnwrap, kek.uri, err)
	}
	return sig, nil
}

func (b *Backend) unwrapAndSign(h p11.SessionHandle, kek p11.ObjectHandle, keyType uint, wrapped []byte, mech *p11.Mechanism, input []byte) ([]byte, error) {
	priv, err := b.unwrap(h, kek, keyType, wrapped)
	if err != nil {
		return nil, err
	}
	var sig []byte
	if err = b.mod.ctx.SignInit(h, []*p11.Mechanism{mech}, priv); err != nil {
		err = fmt.Errorf("C_SignInit: %w", err)
	} else if sig, err = b.mod.ctx.Sign(h, input); err != nil {
		err = fmt.Errorf("C_Sign: %w", err)
	}
	if dErr := b.destroySessionObject(h, priv); dErr != nil {
		return nil, errors.Join(err, dErr)
	}
	return sig, err
}

// unwrap makes a session object of a wrapped private key; the caller
// destroys it.
func (b *Backend) unwrap(h p11.SessionHandle, kek p11.ObjectHandle, keyType uint, wrapped []byte) (p11.ObjectHandle, error) {
	// PKCS #11 v2.40 Base §5.16 C_UnwrapKey: the template sets what the
	// wrapped bytes do not carry. The key lives in this session only, can
	// sign and do nothing else, and can never be exported again.
	template := []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PRIVATE_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, keyType),
		p11.NewAttribute(p11.CKA_TOKEN, false),
		p11.NewAttribute(p11.CKA_PRIVATE, true),
		p11.NewAttribute(p11.CKA_SENSITIVE, true),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, false),
		p11.NewAttribute(p11.CKA_SIGN, true),
		p11.NewAttribute(p11.CKA_DECRYPT, false),
		p11.NewAttribute(p11.CKA_DERIVE, false),
		p11.NewAttribute(p11.CKA_UNWRAP, false),
	}
	priv, err := b.mod.ctx.UnwrapKey(h, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_KEY_WRAP_PAD, nil)}, kek, wrapped, template)
	switch {
	case err == nil:
		return priv, nil
	case notAWrappingKey(err):
		return 0, fmt.Errorf("%w: the AES key may not unwrap (CKA_UNWRAP false: AES keys created before eidp supported wrapped keys); "+
			"use a signing-kek key: C_UnwrapKey: %w", hsm.ErrWrongKeyType, err)
	case isUnwrapFailure(err):
		return 0, fmt.Errorf("%w: C_UnwrapKey: %w", hsm.ErrUnwrap, err)
	default:
		return 0, fmt.Errorf("C_UnwrapKey: %w", err)
	}
}

// notAWrappingKey reports the results of C_WrapKey and C_UnwrapKey with a
// key that lacks CKA_WRAP or CKA_UNWRAP (PKCS #11 v2.40 Base §5.16).
func notAWrappingKey(err error) bool {
	rv, ok := returnValue(err)
	return ok && (rv == p11.CKR_KEY_FUNCTION_NOT_PERMITTED ||
		rv == p11.CKR_WRAPPING_KEY_TYPE_INCONSISTENT || rv == p11.CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT)
}

// parseWrappedBlob checks the blob's format byte and the KWP length rules
// (RFC 5649 §4.2: a multiple of 8 bytes, at least 16).
func parseWrappedBlob(blob []byte) ([]byte, error) {
	if len(blob) == 0 || blob[0] != wrappedBlobVersion {
		return nil, fmt.Errorf("pkcs11: %w: blob is not a wrapped key of this backend (format byte missing or unknown)", hsm.ErrUnwrap)
	}
	wrapped := blob[1:]
	if len(wrapped) < 16 || len(wrapped)%8 != 0 {
		return nil, fmt.Errorf("pkcs11: %w: wrapped key is %d bytes; AES key wrap output is a multiple of 8 bytes, at least 16", hsm.ErrUnwrap, len(wrapped))
	}
	return wrapped, nil
}

// verifyWrapped checks sig over digest under key.Public, with the options
// the token signed with (PSS with an automatic salt length means the hash
// length, as signer.go maps it).
func verifyWrapped(key hsm.WrappedKey, digest []byte, opts crypto.SignerOpts, sig []byte) error {
	switch pub := key.Public.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(pub, digest, sig) {
			return errors.New("ECDSA signature does not verify")
		}
		return nil
	case *rsa.PublicKey:
		if pss, ok := opts.(*rsa.PSSOptions); ok {
			o := *pss
			if o.SaltLength == rsa.PSSSaltLengthAuto {
				o.SaltLength = rsa.PSSSaltLengthEqualsHash
			}
			return rsa.VerifyPSS(pub, opts.HashFunc(), digest, sig, &o)
		}
		return rsa.VerifyPKCS1v15(pub, opts.HashFunc(), digest, sig)
	}
	return fmt.Errorf("%w: public key %T", hsm.ErrUnsupportedAlgorithm, key.Public)
}

// isUnwrapFailure reports the C_UnwrapKey results that mean the wrapped
// bytes did not authenticate under the key (altered, or wrapped under
// another key). PKCS #11 names CKR_WRAPPED_KEY_INVALID; SoftHSM 2.6 answers
// a failed RFC 5649 integrity check with CKR_GENERAL_ERROR.
func isUnwrapFailure(err error) bool {
	rv, ok := returnValue(err)
	if !ok {
		return false
	}
	switch rv {
	case p11.CKR_WRAPPED_KEY_INVALID, p11.CKR_WRAPPED_KEY_LEN_RANGE,
		p11.CKR_ENCRYPTED_DATA_INVALID, p11.CKR_ENCRYPTED_DATA_LEN_RANGE,
		p11.CKR_DATA_INVALID, p11.CKR_DATA_LEN_RANGE,
		p11.CKR_TEMPLATE_INCONSISTENT, p11.CKR_GENERAL_ERROR, p11.CKR_FUNCTION_FAILED:
		return true
	}
	return false
}

// staleWrappingHandle turns the "wrapping key handle invalid" results of
// C_WrapKey and C_UnwrapKey into CKR_KEY_HANDLE_INVALID, so that withKey
// looks the wrapping key up again (another application may have destroyed
// and recreated it, or destroyed it).
func staleWrappingHandle(err error) error {
	rv, ok := returnValue(err)
	if ok && (rv == p11.CKR_WRAPPING_KEY_HANDLE_INVALID || rv == p11.CKR_UNWRAPPING_KEY_HANDLE_INVALID) {
		return fmt.Errorf("%w (%w)", p11.Error(p11.CKR_KEY_HANDLE_INVALID), err)
	}
	return err
}

// wrappingKeyGone reports a wrapping key handle that was still stale after
// withKey looked the key up again as hsm.ErrKeyNotFound.
func wrappingKeyGone(err error) error {
	if isStaleHandle(err) {
		return fmt.Errorf("%w: the wrapping key's object is gone: %w", hsm.ErrKeyNotFound, err)
	}
	return err
}
