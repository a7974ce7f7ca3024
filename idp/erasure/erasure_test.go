package erasure_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"slices"
	"testing"

	"eidp/hsm/keyring"
	"eidp/hsm/soft"
	"eidp/idp/account"
	"eidp/idp/client"
	"eidp/idp/consent"
	"eidp/idp/erasure"
	"eidp/idp/session"
	"eidp/internal/db"
	"eidp/internal/testenv"
	"eidp/vault"
	"eidp/vault/accesslog"
)

// TestDeleteAccount: the vault is shredded, every session ends (the
// provider's hook hears of it), the account and what hangs on it are gone,
// the access log stays, and a second call says the account is unknown.
func TestDeleteAccount(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		km, err := soft.Open(ctx, soft.Options{Dir: t.TempDir(), MasterKey: make([]byte, 32)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { km.Close() })
		ring := keyring.New(d, km)
		if _, _, err := ring.Ensure(ctx, keyring.VaultKEK); err != nil {
			t.Fatal(err)
		}
		accounts := account.NewStore(d)
		var ended []string
		sessions := session.NewManager(d, session.Options{OnEnd: func(_ context.Context, _ string, ids []string) error {
			ended = append(ended, ids...)
			return nil
		}})
		v := vault.New(d, ring, km, vault.Options{})
		log := accesslog.New(d)

		r, err := accounts.Create(ctx, account.Profile{IDNumber: "A1234563", Surname: "CHAN", GivenNames: "Tai Man",
			BirthDate: "1985-04-12", Gender: "M"}, "substantial")
		if err != nil {
			t.Fatal(err)
		}
		other, err := accounts.Create(ctx, account.Profile{IDNumber: "G1234560", Surname: "HO", GivenNames: "Wing Sze",
			BirthDate: "2001-07-19", Gender: "F"}, "substantial")
		if err != nil {
			t.Fatal(err)
		}
		s1, _ := sessions.Create(ctx, httptest.NewRecorder(), r.ID, "urn:eidp:acr:substantial", []string{"hwk"}, "test")
		s2, _ := sessions.Create(ctx, httptest.NewRecorder(), r.ID, "urn:eidp:acr:substantial", []string{"hwk"}, "test")
		if _, err := v.Put(ctx, r.ID, "email", json.RawMessage(`"tai.man@example.com"`), vault.Provenance{Source: "resident"}, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := v.Put(ctx, other.ID, "email", json.RawMessage(`"wing.sze@example.com"`), vault.Provenance{Source: "resident"}, 0); err != nil {
			t.Fatal(err)
		}
		clients := client.NewStore(d, client.Options{})
		c, _, err := clients.Create(ctx, client.Client{ClientName: "Dept", RedirectURIs: []string{"https://dept.example.gov/cb"}})
		if err != nil {
			t.Fatal(err)
		}
		consents := consent.NewStore(d)
		if _, err := consents.Save(ctx, consent.Consent{ResidentID: r.ID, ClientID: c.ClientID, Scopes: []string{"openid", "email"}, Claims: []string{"email"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := log.Append(ctx, accesslog.Entry{ResidentID: r.ID, ClientID: c.ClientID, ClientName: "Dept",
			Attributes: []string{"email"}, Consent: "consent:x", RequestID: "req-1"}); err != nil {
			t.Fatal(err)
		}

		// A failure to revoke the certificates stops the deletion before
		// anything is erased; the deletion can be run again.
		e := &erasure.Eraser{Accounts: accounts, Sessions: sessions, Vault: v,
			RevokeCertificates: func(context.Context, string) error { return errors.New("CA down") }}
		if err := e.DeleteAccount(ctx, r.ID); err == nil {
			t.Fatal("DeleteAccount went on although the certificates could not be revoked")
		}
		if _, err := v.Get(ctx, r.ID); err != nil {
			t.Fatalf("the vault was erased before the certificates were revoked: %v", err)
		}
		var revoked []string
		e.RevokeCertificates = func(_ context.Context, residentID string) error {
			revoked = append(revoked, residentID)
			return nil
		}
		if err := e.DeleteAccount(ctx, r.ID); err != nil {
			t.Fatalf("DeleteAccount: %v", err)
		}
		if _, err := accounts.Get(ctx, r.ID); !errors.Is(err, account.ErrNotFound) {
			t.Fatalf("the account survived: %v", err)
		}
		if !slices.Equal(revoked, []string{r.ID}) {
			t.Fatalf("certificates revoked for %v, want %v", revoked, r.ID)
		}
		if slices.Sort(ended); !slices.Equal(ended, sorted(s1.ID, s2.ID)) {
			t.Fatalf("sessions ended %v, want %v", ended, sorted(s1.ID, s2.ID))
		}
		if _, err := v.Get(ctx, r.ID); !errors.Is(err, vault.ErrErased) {
			t.Fatalf("vault after deletion: %v, want ErrErased", err)
		}
		if _, err := consents.Get(ctx, r.ID, c.ClientID); !errors.Is(err, consent.ErrNotFound) {
			t.Fatalf("consent after deletion: %v", err)
		}
		for _, table := range []string{"vault_data_keys", "vault_attributes", "sessions", "passkey_credentials", "oidc_consents", "account_activity"} {
			var n int
			if err := d.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table+` WHERE resident_id = $1`, r.ID).Scan(&n); err != nil || n != 0 {
				t.Fatalf("%s still has %d rows for the deleted resident (%v)", table, n, err)
			}
		}
		if entries, err := log.List(ctx, r.ID, 10); err != nil || len(entries) != 1 || log.Verify(ctx, r.ID) != nil {
			t.Fatalf("the access log did not survive intact: %v %v", entries, err)
		}
		// The other resident is untouched.
		if got, err := v.Get(ctx, other.ID); err != nil || len(got) != 1 {
			t.Fatalf("the other resident's vault: %v %v", got, err)
		}
		if err := e.DeleteAccount(ctx, r.ID); !errors.Is(err, account.ErrNotFound) {
			t.Fatalf("second DeleteAccount: %v, want ErrNotFound", err)
		}
	})
}

func sorted(s ...string) []string { slices.Sort(s); return s }
