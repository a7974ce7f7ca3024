package passkey_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"eidp/idp/passkey"
	"eidp/idp/passkey/passkeytest"
	"eidp/internal/db"
)

const (
	rpID   = "localhost"
	origin = "http://localhost:8080"
)

func newService(t testing.TB, d *db.DB, p passkey.Policy) *passkey.Service {
	t.Helper()
	svc, err := passkey.New(d, passkey.Config{
		RPID:          rpID,
		RPDisplayName: "eidp test",
		Origins:       []string{origin},
		Policy:        p,
	})
	if err != nil {
		t.Fatalf("passkey.New: %v", err)
	}
	return svc
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// newFlow returns a fresh flow value, as the web layer's flow cookie holds.
func newFlow(t testing.TB) string { return randomHex(t, 32) }

// addResident inserts the minimal residents row the credentials' foreign
// key needs and returns its ID.
func addResident(t testing.TB, d *db.DB) string {
	t.Helper()
	id := randomHex(t, 16)
	now := time.Now().UnixMicro()
	_, err := d.ExecContext(context.Background(), `INSERT INTO residents
		(id, id_number, surname, given_names, birth_date, gender, assurance_level, status, created_at, updated_at)
		VALUES ($1, $2, 'CHAN', 'Tai Man', '1980-01-01', 'M', 'substantial', 'active', $3, $3)`,
		id, "T"+randomHex(t, 6), now)
	if err != nil {
		t.Fatalf("insert resident: %v", err)
	}
	return id
}

// register runs a whole registration ceremony and fails the test if it
// does not succeed.
func register(t testing.TB, svc *passkey.Service, a *passkeytest.Authenticator, residentID string) passkey.Credential {
	t.Helper()
	cred, err := tryRegister(svc, a, residentID, "")
	if err != nil {
		t.Fatalf("registration: %s", passkey.LogDetail(err))
	}
	return cred
}

func tryRegister(svc *passkey.Service, a *passkeytest.Authenticator, residentID, nickname string) (passkey.Credential, error) {
	ctx := context.Background()
	flow := hex.EncodeToString([]byte(residentID + "-register"))
	opts, err := svc.BeginRegistration(ctx, passkey.User{ResidentID: residentID, Name: "CHAN Tai Man"}, flow)
	if err != nil {
		return passkey.Credential{}, err
	}
	resp, err := a.Create(opts)
	if err != nil {
		return passkey.Credential{}, err
	}
	return svc.FinishRegistration(ctx, residentID, flow, resp, nickname)
}

// tryLogin runs a whole discoverable login with a.
func tryLogin(t testing.TB, svc *passkey.Service, a *passkeytest.Authenticator) (passkey.Credential, error) {
	t.Helper()
	ctx := context.Background()
	flow := newFlow(t)
	opts, err := svc.BeginLogin(ctx, flow)
	if err != nil {
		t.Fatalf("BeginLogin: %v", err)
	}
	resp, err := a.Get(opts)
	if err != nil {
		t.Fatalf("authenticator Get: %v", err)
	}
	return svc.FinishLogin(ctx, flow, resp)
}

func login(t testing.TB, svc *passkey.Service, a *passkeytest.Authenticator) passkey.Credential {
	t.Helper()
	cred, err := tryLogin(t, svc, a)
	if err != nil {
		t.Fatalf("login: %s", passkey.LogDetail(err))
	}
	return cred
}

func wantErr(t testing.TB, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", passkey.LogDetail(err), want)
	}
}

func list(t testing.TB, svc *passkey.Service, residentID string) []passkey.Credential {
	t.Helper()
	creds, err := svc.List(context.Background(), residentID)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return creds
}

func only(t testing.TB, svc *passkey.Service, residentID string) passkey.Credential {
	t.Helper()
	creds := list(t, svc, residentID)
	if len(creds) != 1 {
		t.Fatalf("resident has %d credentials, want 1", len(creds))
	}
	return creds[0]
}
