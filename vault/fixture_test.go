package vault_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"eidp/hsm"
	"eidp/hsm/keyring"
	"eidp/hsm/testkeys"
	"eidp/internal/db"
	"eidp/internal/secret"
	"eidp/internal/testenv"
	"eidp/vault"
)

// Distinctive values, so that a search of the raw database cannot match by
// accident.
const (
	address = `"Flat 12B, Tower 3, Harbour View Gardens"`
	phone   = `"+852 5555 0123"`
	email   = `"mei.ling.chan@example.hk"`
	nameZH  = `"陳美玲"`
	postal  = `{"street":"88 Gloucester Road","district":"Wan Chai","region":"HK Island"}`
)

// keyBackend is a key manager the vault's KEK lives in.
type keyBackend struct {
	name string
	km   hsm.KeyManager
}

// keyBackends opens both key backends — hsm/soft in a temporary directory
// and SoftHSM2 through hsm/pkcs11 on a fresh token — and closes them when t
// ends. Every crypto test runs on both. One token serves all of t's
// subtests: a test process has only a few (testenv.SoftHSM).
func keyBackends(t testing.TB) []keyBackend {
	t.Helper()
	return []keyBackend{{"soft", testkeys.Soft(t)}, {"softhsm2", testkeys.SoftHSM(t)}}
}

// eachSetup runs test on every key backend × database engine, each time on
// a fresh migrated database with a vault-kek key.
func eachSetup(t *testing.T, kms []keyBackend, test func(t *testing.T, fx *fixture)) {
	t.Helper()
	for _, kb := range kms {
		t.Run(kb.name, func(t *testing.T) {
			testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
				test(t, newFixture(t, d, kb.km))
			})
		})
	}
}

type fixture struct {
	db    *db.DB
	km    hsm.KeyManager
	ring  *keyring.Keyring
	clock *testenv.Clock
	kek   keyring.Key // the vault-kek key the fixture started with
	v     *vault.Vault
}

func newFixture(t testing.TB, d *db.DB, km hsm.KeyManager) *fixture {
	t.Helper()
	clock := testenv.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	ring := keyring.New(d, km, keyring.WithClock(clock.Now))
	kek, _, err := ring.Ensure(context.Background(), keyring.VaultKEK)
	if err != nil {
		t.Fatalf("Ensure(vault-kek): %v", err)
	}
	fx := &fixture{db: d, km: km, ring: ring, clock: clock, kek: kek}
	fx.v = fx.open(vault.Options{})
	// Keep the shared token small: remove the keys this fixture made.
	t.Cleanup(func() {
		keys, _ := ring.List(context.Background(), keyring.VaultKEK)
		for _, k := range keys {
			if err := km.Destroy(context.Background(), k.URI); err != nil && !errors.Is(err, hsm.ErrKeyNotFound) {
				t.Errorf("cleanup: destroy %s: %v", k.URI, err)
			}
		}
	})
	return fx
}

// open returns another Vault on the fixture's database and keys: another
// process, with a cold cache.
func (fx *fixture) open(opts vault.Options) *vault.Vault {
	opts.Now = fx.clock.Now
	return vault.New(fx.db, fx.ring, fx.km, opts)
}

// resident registers a resident and returns its ID.
func (fx *fixture) resident(t testing.TB) string {
	t.Helper()
	id := secret.Random(12)
	now := fx.clock.Now().UnixMicro()
	fx.exec(t, `INSERT INTO residents (id, id_number, surname, given_names, birth_date, gender, assurance_level, status, created_at, updated_at)
		VALUES ($1, $2, 'Chan', 'Mei Ling', '1990-04-01', 'F', 'substantial', 'active', $3, $3)`, id, "A"+secret.Random(6), now)
	return id
}

func (fx *fixture) exec(t testing.TB, query string, args ...any) int64 {
	t.Helper()
	res, err := fx.db.ExecContext(context.Background(), query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	n, _ := res.RowsAffected()
	return n
}

func (fx *fixture) count(t testing.TB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := fx.db.QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// put writes an attribute unconditionally.
func put(t testing.TB, v *vault.Vault, residentID, name, value string) vault.Attribute {
	t.Helper()
	a, err := v.Put(context.Background(), residentID, name, json.RawMessage(value), vault.Provenance{Source: "register", Verified: true}, -1)
	if err != nil {
		t.Fatalf("Put(%s): %v", name, err)
	}
	return a
}

// values reads attributes as name → JSON text.
func values(t testing.TB, v *vault.Vault, residentID string, names ...string) map[string]string {
	t.Helper()
	attrs, err := v.Get(context.Background(), residentID, names...)
	if err != nil {
		t.Fatalf("Get(%v): %v", names, err)
	}
	out := map[string]string{}
	for _, a := range attrs {
		out[a.Name] = string(a.Value)
	}
	return out
}

// wantValues fails unless the resident's attributes are exactly want.
func wantValues(t testing.TB, v *vault.Vault, residentID string, want map[string]string) {
	t.Helper()
	got := values(t, v, residentID)
	if len(got) != len(want) {
		t.Fatalf("Get: %d attributes %v, want %d", len(got), keys(got), len(want))
	}
	for name, value := range want {
		if got[name] != value {
			t.Errorf("Get: %s = %s, want %s", name, got[name], value)
		}
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// wantErr fails unless err wraps target.
func wantErr(t testing.TB, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error %v, want one wrapping %q", what, err, target)
	}
}

type rawAttr struct {
	schema, keyVersion, version int64
	ciphertext                  []byte
}

// raw reads the stored attribute rows of a resident by name.
func (fx *fixture) raw(t testing.TB, residentID string) map[string]rawAttr {
	t.Helper()
	rows, err := fx.db.QueryContext(context.Background(),
		`SELECT name, schema_version, key_version, version, ciphertext FROM vault_attributes WHERE resident_id = $1`, residentID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]rawAttr{}
	for rows.Next() {
		var (
			name string
			r    rawAttr
		)
		if err := rows.Scan(&name, &r.schema, &r.keyVersion, &r.version, &r.ciphertext); err != nil {
			t.Fatal(err)
		}
		out[name] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

type rawKey struct {
	keyVersion int64
	kekID      string
	wrapped    []byte
}

// rawDataKey reads a resident's vault_data_keys row.
func (fx *fixture) rawDataKey(t testing.TB, residentID string) rawKey {
	t.Helper()
	var k rawKey
	if err := fx.db.QueryRowContext(context.Background(),
		`SELECT key_version, kek_id, wrapped_key FROM vault_data_keys WHERE resident_id = $1`, residentID).
		Scan(&k.keyVersion, &k.kekID, &k.wrapped); err != nil {
		t.Fatalf("data key of %s: %v", residentID, err)
	}
	return k
}
