//go:build cgo

package pkcs11

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	p11 "github.com/miekg/pkcs11"

	"eidp/hsm"
)

// module is one PKCS #11 library loaded into this process.
//
// PKCS #11 v2.40 Base §5.4: C_Initialize may be called once per process
// (a second call returns CKR_CRYPTOKI_ALREADY_INITIALIZED), and C_Finalize
// ends the library for every user in the process. So the registry loads and
// initialises each module path once, tolerates a module that someone else in
// the process initialised already, and never calls C_Finalize: refs only
// counts the Backends using the module. Finalising at zero would invalidate
// the object handles of any other user of the library, would cost a new
// C_Initialize (and a reread of SoftHSM's configuration) for every Open after
// a Close, and buys nothing in a long-running server: the operating system
// releases the library at exit.
type module struct {
	path string
	ctx  *p11.Ctx

	mu   sync.Mutex
	refs int
	// pinMACs remembers, per token, an HMAC of the PIN that last logged in
	// successfully. Login state is per application, not per session (PKCS #11
	// v2.40 Base §5.6 C_Login), so a second Backend on a token that is already
	// logged in gets CKR_USER_ALREADY_LOGGED_IN whatever PIN it gives; the MAC
	// lets it detect a wrong PIN without logging the first one out. The key is
	// random per process, so the MAC reveals nothing outside it.
	pinMACs map[string][]byte
}

var registry = struct {
	sync.Mutex
	key     []byte
	modules map[string]*module
}{modules: map[string]*module{}}

// acquireModule loads and initialises the module at path (once per process)
// and counts one more user.
func acquireModule(path string) (*module, error) {
	path = filepath.Clean(path)
	registry.Lock()
	defer registry.Unlock()
	if m, ok := registry.modules[path]; ok {
		m.mu.Lock()
		m.refs++
		m.mu.Unlock()
		return m, nil
	}
	if registry.key == nil {
		registry.key = make([]byte, 32)
		if _, err := rand.Read(registry.key); err != nil {
			return nil, fmt.Errorf("pkcs11: %w", err)
		}
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("pkcs11: module %s: %w: %w: %w", path, ErrModule, hsm.ErrUnavailable, err)
	}
	ctx := p11.New(path)
	if ctx == nil {
		return nil, fmt.Errorf("pkcs11: module %s could not be loaded (dlopen failed or it exports no C_GetFunctionList): %w: %w", path, ErrModule, hsm.ErrUnavailable)
	}
	if err := ctx.Initialize(); err != nil && !isRV(err, p11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		ctx.Destroy()
		return nil, fmt.Errorf("pkcs11: C_Initialize of module %s: %w: %w: %w", path, ErrModule, hsm.ErrUnavailable, err)
	}
	m := &module{path: path, ctx: ctx, refs: 1, pinMACs: map[string][]byte{}}
	registry.modules[path] = m
	return m, nil
}

// release counts one user less. The module stays loaded and initialised (see
// module).
func (m *module) release() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.refs > 0 {
		m.refs--
	}
}

func (m *module) users() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.refs
}

func pinMAC(pin string) []byte {
	mac := hmac.New(sha256.New, registry.key)
	mac.Write([]byte(pin))
	return mac.Sum(nil)
}

// rememberPIN records that pin logged in to token.
func (m *module) rememberPIN(token, pin string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pinMACs[token] = pinMAC(pin)
}

// knownWrongPIN reports whether token was logged in by this process with a
// PIN other than pin. Unknown (someone else logged in) is not "wrong".
func (m *module) knownWrongPIN(token, pin string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	known, ok := m.pinMACs[token]
	return ok && !hmac.Equal(known, pinMAC(pin))
}

// isRV reports whether err is the PKCS #11 return value rv.
func isRV(err error, rv uint) bool {
	var e p11.Error
	return errors.As(err, &e) && uint(e) == rv
}

// returnValue extracts the CK_RV from err, if it carries one.
func returnValue(err error) (uint, bool) {
	var e p11.Error
	if errors.As(err, &e) {
		return uint(e), true
	}
	return 0, false
}
