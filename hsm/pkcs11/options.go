package pkcs11

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// DefaultSessions is the session-pool size used when Options.Sessions is zero.
const DefaultSessions = 8

// Options selects a token and says how to log in to it.
type Options struct {
	// Module is the path of the PKCS #11 shared library, for example
	// /usr/lib/softhsm/libsofthsm2.so.
	Module string
	// TokenLabel selects the token (CK_TOKEN_INFO.label). Tokens are chosen
	// by label, never by slot number: slot numbers change when tokens are
	// initialised or plugged in.
	TokenLabel string
	// PIN is the user PIN (CKU_USER). It never appears in errors or logs.
	PIN string
	// Sessions is the number of pooled read/write sessions (default 8). It
	// bounds the number of concurrent operations on the token.
	Sessions int
}

// String describes the options without the PIN, so that Options can be logged.
func (o Options) String() string {
	return fmt.Sprintf("pkcs11.Options{Module: %q, TokenLabel: %q, PIN: <redacted>, Sessions: %d}",
		o.Module, o.TokenLabel, o.Sessions)
}

// GoString keeps %#v from printing the PIN.
func (o Options) GoString() string { return o.String() }

func (o Options) withDefaults() (Options, error) {
	if o.Module == "" {
		return o, errors.New("pkcs11: Options.Module is empty: give the path of the PKCS #11 module (for example /usr/lib/softhsm/libsofthsm2.so)")
	}
	if o.TokenLabel == "" {
		return o, errors.New("pkcs11: Options.TokenLabel is empty: give the label of the token holding the keys")
	}
	if o.Sessions < 0 {
		return o, fmt.Errorf("pkcs11: Options.Sessions is %d: it must be positive (or 0 for the default %d)", o.Sessions, DefaultSessions)
	}
	if o.Sessions == 0 {
		o.Sessions = DefaultSessions
	}
	return o, nil
}

// ReadPIN returns the user PIN from envValue (the value of an environment
// variable, which wins when set) or else from the file at path file, whose
// content is taken without its trailing line ending. Errors name the file but
// never contain the PIN.
func ReadPIN(envValue, file string) (string, error) {
	if envValue != "" {
		return envValue, nil
	}
	if file == "" {
		return "", errors.New("pkcs11: no PIN given: set the PIN in the environment or name a PIN file")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		// The *fs.PathError already names the file; keep its cause so that
		// errors.Is(err, fs.ErrNotExist) still works, and say it once.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", fmt.Errorf("pkcs11: cannot read PIN file %s: %w", file, err)
	}
	pin := strings.TrimRight(string(b), "\r\n")
	if pin == "" {
		return "", fmt.Errorf("pkcs11: PIN file %s is empty", file)
	}
	return pin, nil
}

// Errors that say which setting to change; both also wrap hsm.ErrUnavailable.
var (
	// ErrModule: the PKCS#11 module could not be found, loaded or initialised.
	ErrModule = errors.New("pkcs11: module unusable")
	// ErrTokenNotFound: no token (or more than one) has the configured label.
	ErrTokenNotFound = errors.New("pkcs11: token not found")
)
