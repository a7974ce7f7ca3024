package ca_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"eidp/hsm"
	"eidp/hsm/keyring"
	"eidp/internal/db"
	"eidp/internal/testenv"
	"eidp/signing/ca"
)

const baseURL = "http://localhost:8080"

// fixture is a CA over a fresh database and a key backend, with a fake
// clock that starts at the real time (so that OpenSSL, which checks
// validity against the real clock, agrees).
type fixture struct {
	db    *db.DB
	km    hsm.KeyManager
	ring  *keyring.Keyring
	clock *testenv.Clock
	ca    *ca.Authority
}

func newFixture(t testing.TB, d *db.DB, km hsm.KeyManager, cfg ca.Config) *fixture {
	t.Helper()
	clock := testenv.NewClock(time.Now().UTC())
	ring := keyring.New(d, km, keyring.WithClock(clock.Now))
	if cfg.BaseURL == "" {
		cfg.BaseURL = baseURL
	}
	a, err := ca.New(d, ring, km, cfg, ca.WithClock(clock.Now))
	if err != nil {
		t.Fatalf("ca.New: %v", err)
	}
	return &fixture{db: d, km: km, ring: ring, clock: clock, ca: a}
}

// initialised is a fixture whose hierarchy exists.
func initialised(t testing.TB, d *db.DB, km hsm.KeyManager) (*fixture, ca.Hierarchy) {
	t.Helper()
	f := newFixture(t, d, km, ca.Config{})
	h, err := f.ca.Init(context.Background())
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	return f, h
}

func (f *fixture) issue(t testing.TB, resident string) ca.Certificate {
	t.Helper()
	c, err := f.ca.Issue(context.Background(), ca.IssueRequest{ResidentID: resident, GivenName: "Tai Man", FamilyName: "Chan", Level: ca.LevelHigh})
	if err != nil {
		t.Fatalf("Issue(%s): %v", resident, err)
	}
	return c
}

// count runs a COUNT query.
func (f *fixture) count(t testing.TB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := f.db.QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// writePEM writes certificates (or a CRL with typ "X509 CRL") to dir/name.
func writePEM(t testing.TB, dir, name, typ string, ders ...[]byte) string {
	t.Helper()
	var out []byte
	for _, der := range ders {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})...)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func certPEM(t testing.TB, dir, name string, c *x509.Certificate) string {
	t.Helper()
	return writePEM(t, dir, name, "CERTIFICATE", c.Raw)
}

// run runs a command and returns its combined output and whether it
// exited 0.
func run(t testing.TB, name string, args ...string) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err == nil
}
