//go:build !cgo

package pkcs11

import (
	"context"
	"fmt"

	"eidp/hsm"
)

// errNoCgo explains why this build cannot reach a PKCS #11 module:
// miekg/pkcs11 loads the module through cgo.
var errNoCgo = fmt.Errorf("pkcs11: built without PKCS#11 support (cgo disabled); rebuild with CGO_ENABLED=1: %w", hsm.ErrUnavailable)

// Backend is the PKCS #11 key manager. In this build (cgo disabled) it
// cannot be opened; its methods report hsm.ErrUnavailable.
type Backend struct{}

var _ hsm.KeyManager = (*Backend)(nil)

// Open reports that this build has no PKCS #11 support.
func Open(ctx context.Context, opts Options) (*Backend, error) { return nil, errNoCgo }

// The methods report errNoCgo like Open; a Backend cannot exist in this build.

func (*Backend) CreateKey(context.Context, string, hsm.Algorithm) (hsm.KeyInfo, error) {
	return hsm.KeyInfo{}, errNoCgo
}
func (*Backend) Key(context.Context, string) (hsm.KeyInfo, error)   { return hsm.KeyInfo{}, errNoCgo }
func (*Backend) Signer(context.Context, string) (hsm.Signer, error) { return nil, errNoCgo }
func (*Backend) Encrypt(context.Context, string, []byte, []byte) ([]byte, error) {
	return nil, errNoCgo
}
func (*Backend) Decrypt(context.Context, string, []byte, []byte) ([]byte, error) {
	return nil, errNoCgo
}
func (*Backend) List(context.Context) ([]hsm.KeyInfo, error) { return nil, errNoCgo }
func (*Backend) Destroy(context.Context, string) error       { return errNoCgo }
func (*Backend) Capabilities() []hsm.Algorithm               { return nil }
func (*Backend) Name() string                                { return "pkcs11" }
func (*Backend) Close() error                                { return nil }
