//go:build !cgo

package pkcs11

import (
	"context"
	"crypto"

	"eidp/hsm"
)

var _ hsm.KeyWrapper = (*Backend)(nil)

// GenerateWrapped reports that this build has no PKCS #11 support.
func (*Backend) GenerateWrapped(context.Context, string, hsm.Algorithm) (hsm.WrappedKey, error) {
	return hsm.WrappedKey{}, errNoCgo
}

// SignWrapped reports that this build has no PKCS #11 support.
func (*Backend) SignWrapped(context.Context, string, hsm.WrappedKey, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errNoCgo
}
