package main

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"eidp/hsm"
	"eidp/hsm/soft"
	"eidp/internal/testenv"
)

// failingSigner is a key backend signer whose token went away.
type failingSigner struct{ hsm.Signer }

func (failingSigner) SignContext(context.Context, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("CKR_DEVICE_REMOVED")
}

func readyz(t *testing.T, rd *readiness) (int, map[string]string) {
	t.Helper()
	rr := httptest.NewRecorder()
	rd.ServeHTTP(rr, httptest.NewRequest("GET", "/readyz", nil))
	var body struct {
		Checks map[string]string `json:"checks"`
	}
	if err := json.Unmarshal(rr.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	return rr.Code, body.Checks
}

func TestReadinessFailsWhenTheDatabaseOrTheKeyBackendFails(t *testing.T) {
	ctx := context.Background()
	km, err := soft.Open(ctx, soft.Options{Dir: t.TempDir(), MasterKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	defer km.Close()
	info, err := km.CreateKey(ctx, "probe", hsm.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := km.Signer(ctx, info.URI)
	if err != nil {
		t.Fatal(err)
	}
	database := testenv.OpenDB(t, testenv.SQLite(t))
	log := slog.New(slog.DiscardHandler)

	fixed := func(s hsm.Signer) func(context.Context) (hsm.Signer, error) {
		return func(context.Context) (hsm.Signer, error) { return s, nil }
	}
	rd := &readiness{db: database, signer: fixed(signer), log: log}
	if code, checks := readyz(t, rd); code != 200 || checks["database"] != "ok" || checks["keys"] != "ok" {
		t.Fatalf("healthy: %d %v", code, checks)
	}

	rd = &readiness{db: database, signer: fixed(failingSigner{signer}), log: log}
	if code, checks := readyz(t, rd); code != 503 || checks["keys"] != "failing" || checks["database"] != "ok" {
		t.Fatalf("key backend down: %d %v", code, checks)
	}

	closed := testenv.OpenDB(t, testenv.SQLite(t))
	closed.Close()
	rd = &readiness{db: closed, signer: fixed(signer), log: log}
	if code, checks := readyz(t, rd); code != 503 || checks["database"] != "failing" {
		t.Fatalf("database down: %d %v", code, checks)
	}

	// The result is cached briefly: probes cannot become HSM load.
	rd.signer = fixed(failingSigner{signer})
	if _, checks := readyz(t, rd); checks["keys"] != "ok" {
		t.Fatalf("a probe within %s should reuse the last result: %v", readinessCacheFor, checks)
	}
	rd.checked = time.Now().Add(-2 * readinessCacheFor)
	if _, checks := readyz(t, rd); checks["keys"] != "failing" {
		t.Fatalf("after the cache expires the check runs again: %v", checks)
	}
}
