package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// Tool finds an external program a test checks our output with (openssl,
// pdfsig, certutil, qpdf, pdftoppm, …; scripts/test installs them all) and
// returns its path. Missing, it fails the test under CI=true, where a skip
// would hide an unchecked signature, and skips it elsewhere; pkg is the
// Debian package to install.
func Tool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		skipOrFail(t, fmt.Sprintf("%s is not installed (apt-get install %s)", name, pkg))
	}
	return p
}

// skipOrFail fails the test under CI=true and skips it otherwise.
func skipOrFail(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}
