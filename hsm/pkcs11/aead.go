//go:build cgo

package pkcs11

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	p11 "github.com/miekg/pkcs11"

	"eidp/hsm"
)

// Encrypt seals plaintext with the AES-256 key at uri using CKM_AES_GCM
// (PKCS #11 v2.40 Current Mechanisms, AES-GCM with CK_GCM_PARAMS): a fresh
// random 96-bit IV made here, aad as additional authenticated data and a
// 128-bit tag. The result is IV || ciphertext || tag (PKCS #11 appends the
// tag to the ciphertext). A key that is not AES yields hsm.ErrWrongKeyType.
func (b *Backend) Encrypt(ctx context.Context, uri string, plaintext, aad []byte) ([]byte, error) {
	key, err := b.aesKey(ctx, uri, "encryption needs an AES-256 key")
	if err != nil {
		return nil, err
	}
	var sealed []byte
	err = b.withKey(ctx, key.id, func(h p11.SessionHandle, e *keyEntry) error {
		// A new IV per attempt: an IV is never handed to the token twice.
		iv := make([]byte, hsm.GCMNonceSize)
		if _, err := rand.Read(iv); err != nil {
			return err
		}
		params := p11.NewGCMParams(iv, aad, hsm.GCMTagSize*8)
		defer params.Free()
		if err := b.mod.ctx.EncryptInit(h, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_GCM, params)}, e.handle); err != nil {
			return fmt.Errorf("C_EncryptInit: %w", err)
		}
		ct, err := b.mod.ctx.Encrypt(h, plaintext)
		if err != nil {
			return fmt.Errorf("C_Encrypt: %w", err)
		}
		// Some tokens replace the IV with their own and write it back into
		// CK_GCM_PARAMS; seal with the one actually used.
		if used := params.IV(); len(used) == hsm.GCMNonceSize {
			iv = used
		}
		if len(ct) != len(plaintext)+hsm.GCMTagSize {
			return fmt.Errorf("C_Encrypt returned %d bytes for %d bytes of plaintext", len(ct), len(plaintext))
		}
		sealed = make([]byte, 0, len(iv)+len(ct))
		sealed = append(append(sealed, iv...), ct...)
		return nil
	})
	if err != nil {
		return nil, b.wrapOpErr("encrypting with", key.uri, err)
	}
	return sealed, nil
}

// Decrypt opens what Encrypt sealed. Anything that does not authenticate —
// altered bytes, wrong aad, wrong key, truncated input — yields hsm.ErrDecrypt.
func (b *Backend) Decrypt(ctx context.Context, uri string, sealed, aad []byte) ([]byte, error) {
	key, err := b.aesKey(ctx, uri, "encryption needs an AES-256 key")
	if err != nil {
		return nil, err
	}
	if len(sealed) < hsm.GCMNonceSize+hsm.GCMTagSize {
		return nil, fmt.Errorf("pkcs11: %w: %d bytes is shorter than nonce and tag", hsm.ErrDecrypt, len(sealed))
	}
	iv, ct := sealed[:hsm.GCMNonceSize], sealed[hsm.GCMNonceSize:]
	var plaintext []byte
	err = b.withKey(ctx, key.id, func(h p11.SessionHandle, e *keyEntry) error {
		params := p11.NewGCMParams(iv, aad, hsm.GCMTagSize*8)
		defer params.Free()
		if err := b.mod.ctx.DecryptInit(h, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_GCM, params)}, e.handle); err != nil {
			return fmt.Errorf("C_DecryptInit: %w", err)
		}
		pt, err := b.mod.ctx.Decrypt(h, ct)
		if err != nil {
			if isDecryptFailure(err) {
				return fmt.Errorf("%w: C_Decrypt: %w", hsm.ErrDecrypt, err)
			}
			return fmt.Errorf("C_Decrypt: %w", err)
		}
		plaintext = pt
		return nil
	})
	if err != nil {
		return nil, b.wrapOpErr("decrypting with", key.uri, err)
	}
	if plaintext == nil {
		plaintext = []byte{}
	}
	return plaintext, nil
}

// aesKey resolves uri to an AES-256 key; use says what for, in the error
// for another key type.
func (b *Backend) aesKey(ctx context.Context, uri, use string) (*keyEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("pkcs11: %w", err)
	}
	if b.closed.Load() {
		return nil, b.errClosed()
	}
	u, err := b.parseKeyURI(uri)
	if err != nil {
		return nil, err
	}
	e, err := b.lookup(ctx, u)
	if err != nil {
		return nil, err
	}
	if e.alg != hsm.AES256 {
		return nil, fmt.Errorf("pkcs11: %w: %s is an %s key; %s", hsm.ErrWrongKeyType, e.uri, e.alg, use)
	}
	return e, nil
}

// isDecryptFailure reports the C_Decrypt results that mean the input did not
// authenticate. PKCS #11 v2.40 names CKR_ENCRYPTED_DATA_INVALID and
// CKR_ENCRYPTED_DATA_LEN_RANGE; tokens differ (SoftHSM 2.6 answers a bad
// GCM tag with CKR_GENERAL_ERROR), so the usual neighbours count too.
func isDecryptFailure(err error) bool {
	rv, ok := returnValue(err)
	if !ok {
		return false
	}
	switch rv {
	case p11.CKR_ENCRYPTED_DATA_INVALID, p11.CKR_ENCRYPTED_DATA_LEN_RANGE,
		p11.CKR_DATA_INVALID, p11.CKR_DATA_LEN_RANGE,
		p11.CKR_GENERAL_ERROR, p11.CKR_FUNCTION_FAILED:
		return true
	}
	return false
}

// wrapOpErr adds the token and the operation, leaving sentinels that callers
// act on (closed, cancelled) recognisable by errors.Is.
func (b *Backend) wrapOpErr(op, keyURI string, err error) error {
	if errors.Is(err, hsm.ErrClosed) || errors.Is(err, hsm.ErrKeyNotFound) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("pkcs11: token %q: %s %s: %w", b.token.Label, op, keyURI, err)
}
