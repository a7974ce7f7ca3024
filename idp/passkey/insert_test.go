package passkey_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"eidp/idp/passkey"
	"eidp/idp/passkey/passkeytest"
	"eidp/internal/db"
	"eidp/internal/testenv"
)

// A credential stored by InsertCredential (a seeded population) is one the
// login ceremony accepts; incomplete or duplicate ones are refused and
// store nothing.
func TestInsertCredential(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		svc := newService(t, d, passkey.Policy{})
		resident := addResident(t, d)
		id, key := passkeytest.DeriveCredential([]byte("seed for the insert test"), 3)
		cose, err := passkeytest.COSEPublicKey(&key.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		cred := passkey.Credential{ID: id, ResidentID: resident, PublicKey: cose, AAGUID: passkeytest.DefaultAAGUID,
			AttestationFormat: "none", Transports: []string{"internal"}, CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
		insert := func(c passkey.Credential) error {
			return d.InTx(ctx, func(tx *sql.Tx) error { return passkey.InsertCredential(ctx, tx, c) })
		}
		for name, bad := range map[string]passkey.Credential{
			"no ID":         {ResidentID: resident, PublicKey: cose},
			"no resident":   {ID: id, PublicKey: cose},
			"no public key": {ID: id, ResidentID: resident},
		} {
			if err := insert(bad); err == nil {
				t.Errorf("%s: inserted", name)
			}
		}
		if n := len(list(t, svc, resident)); n != 0 {
			t.Fatalf("%d credentials after refused inserts", n)
		}
		if err := insert(cred); err != nil {
			t.Fatal(err)
		}
		if err := insert(cred); !db.IsUniqueViolation(err) {
			t.Fatalf("a duplicate: %v, want a unique violation", err)
		}
		a := passkeytest.NewAuthenticator(origin, passkeytest.WithCounter(passkeytest.CounterZero))
		a.AddCredential(id, key, []byte(resident), rpID)
		if got := login(t, svc, a); got.ResidentID != resident || got.SignCount != 0 {
			t.Fatalf("login with the inserted credential: %+v", got)
		}
	})
}
