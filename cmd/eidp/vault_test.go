package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"eidp/hsm"
	"eidp/hsm/keyring"
	"eidp/internal/config"
	"eidp/internal/db"
	"eidp/vault"
)

// vaultFixture opens, from the test process, the database and key backend
// that the binary uses with env, as another node would.
type vaultFixture struct {
	db   *db.DB
	km   hsm.KeyManager
	ring *keyring.Keyring
	v    *vault.Vault
}

func openVaultFixture(t *testing.T, env []string) *vaultFixture {
	t.Helper()
	ctx := context.Background()
	cfg, err := config.NewLoader().Load(env)
	if err != nil {
		t.Fatal(err)
	}
	d, err := openDatabase(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	km, err := openKeys(ctx, cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		d.Close()
		t.Fatal(err)
	}
	ring := keyring.New(d, km)
	return &vaultFixture{db: d, km: km, ring: ring, v: vault.New(d, ring, km, vault.Options{})}
}

// close lets the binary have the key backend to itself.
func (f *vaultFixture) close() { f.km.Close(); f.db.Close() }

// kekOf returns the vault-kek key IDs wrapping the data keys, by resident.
func (f *vaultFixture) kekOf(t *testing.T) map[string]string {
	t.Helper()
	rows, err := f.db.QueryContext(context.Background(), `SELECT resident_id, kek_id FROM vault_data_keys`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var r, k string
		if err := rows.Scan(&r, &k); err != nil {
			t.Fatal(err)
		}
		out[r] = k
	}
	return out
}

func TestVaultRotateKEKRewrapsEveryDataKeyAndResumes(t *testing.T) {
	for _, s := range setups(t) {
		t.Run(s.name, func(t *testing.T) {
			ctx := context.Background()
			// On a fresh database it makes the first KEK; nothing to rewrap.
			out := runOK(t, s.env, "vault", "rotate-kek")
			if !regexp.MustCompile(`rotated vault-kek: new key \S+ \(AES-256\) \S+ wraps data keys now`).MatchString(out) ||
				!strings.Contains(out, "rewrapped 0, 0 left") {
				t.Fatalf("rotate-kek on an empty vault:\n%s", out)
			}

			// Another node stores data for three residents.
			f := openVaultFixture(t, s.env)
			want := map[string]string{}
			for i := range 3 {
				id := fmt.Sprintf("resident-%d", i)
				if _, err := f.db.ExecContext(ctx, `INSERT INTO residents (id, id_number, surname, given_names, birth_date, gender, assurance_level, status, created_at, updated_at)
					VALUES ($1, $2, 'Chan', 'Tai Man', '1980-01-01', 'M', 'substantial', 'active', 0, 0)`, id, fmt.Sprintf("A12345%d", i)); err != nil {
					t.Fatal(err)
				}
				want[id] = fmt.Sprintf(`"Flat %d, Tower 3"`, i)
				if _, err := f.v.Put(ctx, id, "address", json.RawMessage(want[id]), vault.Provenance{Source: "register"}, 0); err != nil {
					t.Fatal(err)
				}
			}
			first, err := f.ring.Active(ctx, keyring.VaultKEK)
			if err != nil {
				t.Fatal(err)
			}
			f.close()

			out = runOK(t, s.env, "vault", "rotate-kek", "--batch", "2")
			for _, line := range []string{"rotated vault-kek: new key", "rewrapped 2, 1 left\n", "rewrapped 1, 0 left\n",
				"no data key in this database needs key " + first.ID + " (retiring) any more"} {
				if !strings.Contains(out, line) {
					t.Fatalf("rotate-kek --batch 2 lacks %q:\n%s", line, out)
				}
			}
			list := runOK(t, s.env, "keys", "list", "--role", "vault-kek")
			if strings.Count(list, " active ") != 1 || strings.Count(list, " retiring ") != 1 {
				t.Fatalf("after rotate-kek, want one active and one retiring vault-kek key:\n%s", list)
			}

			// A rotation whose rewrap stopped after one data key…
			f = openVaultFixture(t, s.env)
			second, _ := f.ring.Active(ctx, keyring.VaultKEK)
			third, err := f.ring.RotateNow(ctx, keyring.VaultKEK, hsm.AES256)
			if err != nil {
				t.Fatal(err)
			}
			if done, remaining, err := f.v.RewrapKeys(ctx, 1); err != nil || done != 1 || remaining != 2 {
				t.Fatalf("RewrapKeys(1) = %d, %d, %v", done, remaining, err)
			}
			f.close()
			// …is finished by --rewrap-only, which does not rotate again.
			out = runOK(t, s.env, "vault", "rotate-kek", "--rewrap-only", "--batch", "1")
			if strings.Contains(out, "rotated") || !strings.Contains(out, "rewrapped 1, 1 left\n") || !strings.Contains(out, "rewrapped 1, 0 left\n") ||
				!strings.Contains(out, "every data key is wrapped by vault-kek key "+third.ID) {
				t.Fatalf("rotate-kek --rewrap-only:\n%s", out)
			}

			f = openVaultFixture(t, s.env)
			defer f.close()
			for r, k := range f.kekOf(t) {
				if k != third.ID {
					t.Errorf("data key of %s wrapped by %s, want %s (the keys were %s, %s, %s)", r, k, third.ID, first.ID, second.ID, third.ID)
				}
			}
			for id, value := range want {
				attrs, err := f.v.Get(ctx, id)
				if err != nil || len(attrs) != 1 || string(attrs[0].Value) != value {
					t.Errorf("Get(%s) after the rotations = %v, %v", id, attrs, err)
				}
			}
			if active, _ := f.ring.Active(ctx, keyring.VaultKEK); active.ID != third.ID {
				t.Errorf("--rewrap-only changed the active key to %s", active.ID)
			}
		})
	}
}

func TestVaultRotateKEKRefusesBadFlags(t *testing.T) {
	env := []string{"EIDP_DATABASE_URL=sqlite:" + t.TempDir() + "/eidp.db", "EIDP_DATA_DIR=" + t.TempDir()}
	for _, args := range [][]string{
		{"vault", "rotate-kek", "--batch", "0"},
		{"vault", "rotate-kek", "--batch", "-5"},
		{"vault", "rotate-kek", "now"},
		{"vault", "rotate-kek", "--no-such-flag"},
	} {
		_, stderr, code := runExit(t, env, args...)
		if code != exitUsage || !strings.Contains(stderr, "eidp: usage") {
			t.Errorf("eidp %s: exit %d, stderr %q; want a usage error", strings.Join(args, " "), code, stderr)
		}
	}
	if out := runOK(t, env, "vault", "rotate-kek", "--help"); !strings.Contains(out, "-rewrap-only") || !strings.Contains(out, "-batch") {
		t.Errorf("rotate-kek --help does not document its flags:\n%s", out)
	}
}
