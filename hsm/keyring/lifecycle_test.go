package keyring_test

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"eidp/hsm"
	"eidp/hsm/keyring"
	"eidp/hsm/soft"
	"eidp/internal/db"
	"eidp/internal/testenv"
	"eidp/migrations"
)

var start = time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)

func byID(t *testing.T, ring *keyring.Keyring, role keyring.Role) map[string]keyring.Key {
	t.Helper()
	keys, err := ring.List(context.Background(), role)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]keyring.Key{}
	for _, k := range keys {
		m[k.ID] = k
	}
	return m
}

func advance(t *testing.T, ring *keyring.Keyring, role keyring.Role, want bool) {
	t.Helper()
	changed, err := ring.Advance(context.Background(), role)
	if err != nil || changed != want {
		t.Fatalf("Advance = %v, %v; want changed=%v", changed, err, want)
	}
}

// lifecycleCase runs test on a fresh database of each engine.
func lifecycleCase(t *testing.T, name string, test func(t *testing.T, d testenv.Database)) {
	t.Run(name, func(t *testing.T) {
		for _, d := range testenv.Databases(t) {
			t.Run(string(d.Engine), func(t *testing.T) { test(t, d) })
		}
	})
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	lifecycleCase(t, "a rotation publishes the new key an hour before it signs and retires the old one a day later", func(t *testing.T, d testenv.Database) {
		clock := testenv.NewClock(start)
		ring, km := newRing(t, d.URL, keyring.WithClock(clock.Now))
		old, _ := ring.Create(ctx, keyring.OIDCSigning, hsm.ECP256)
		next, err := ring.Rotate(ctx, keyring.OIDCSigning, hsm.ECP256)
		if err != nil {
			t.Fatal(err)
		}
		if next.State != keyring.Next || !next.ActivateAt.Equal(start.Add(time.Hour)) {
			t.Fatalf("rotated key: %+v", next)
		}
		keys := byID(t, ring, keyring.OIDCSigning)
		if keys[old.ID].State != keyring.Active || !keys[old.ID].RetireAt.Equal(start.Add(25*time.Hour)) {
			t.Fatalf("old key after rotate: %+v", keys[old.ID])
		}
		if keys[next.ID].State != keyring.Next || !keys[next.ID].ActivateAt.Equal(next.ActivateAt) {
			t.Fatalf("new key after rotate: %+v", keys[next.ID])
		}
		if k, s, err := ring.Signer(ctx, keyring.OIDCSigning); err != nil || k.ID != old.ID || s.URI() != old.URI {
			t.Fatalf("before activate_at the old key signs: %v %v", k.ID, err)
		}
		if _, err := ring.Rotate(ctx, keyring.OIDCSigning, hsm.ECP256); !errors.Is(err, keyring.ErrRotationPending) {
			t.Fatalf("second rotation while one is pending: %v", err)
		}
		if backend, _ := km.List(ctx); len(backend) != 2 {
			t.Fatalf("a refused rotation leaves no backend key: %d keys", len(backend))
		}

		clock.Advance(time.Hour - time.Microsecond)
		advance(t, ring, keyring.OIDCSigning, false)
		clock.Advance(time.Microsecond)
		advance(t, ring, keyring.OIDCSigning, true)
		advance(t, ring, keyring.OIDCSigning, false) // idempotent
		keys = byID(t, ring, keyring.OIDCSigning)
		if keys[next.ID].State != keyring.Active || !keys[next.ID].ActivatedAt.Equal(start.Add(time.Hour)) {
			t.Fatalf("new key at activate_at: %+v", keys[next.ID])
		}
		if keys[old.ID].State != keyring.Retiring || !keys[old.ID].Published() {
			t.Fatalf("old key at activate_at: %+v", keys[old.ID])
		}
		if k, _, err := ring.Signer(ctx, keyring.OIDCSigning); err != nil || k.ID != next.ID {
			t.Fatalf("after activate_at the new key signs: %v %v", k.ID, err)
		}

		clock.Advance(24*time.Hour - time.Microsecond)
		advance(t, ring, keyring.OIDCSigning, false)
		clock.Advance(time.Microsecond)
		pub, err := ring.Published(ctx, keyring.OIDCSigning)
		if err != nil || len(pub) != 1 || pub[0].ID != next.ID {
			t.Fatalf("after retire_at only the new key is published: %+v %v", pub, err)
		}
		keys = byID(t, ring, keyring.OIDCSigning)
		if keys[old.ID].State != keyring.Retired || !keys[old.ID].RetiredAt.Equal(start.Add(25*time.Hour)) {
			t.Fatalf("old key at retire_at: %+v", keys[old.ID])
		}
		if _, err := km.Key(ctx, old.URI); err != nil {
			t.Fatalf("a retired key stays in the backend: %v", err)
		}
	})
	lifecycleCase(t, "an activation made late keeps the old key published for the whole retain time", func(t *testing.T, d testenv.Database) {
		clock := testenv.NewClock(start)
		ring, _ := newRing(t, d.URL, keyring.WithClock(clock.Now))
		old, _ := ring.Create(ctx, keyring.OIDCSigning, hsm.ECP256)
		ring.Rotate(ctx, keyring.OIDCSigning, hsm.ECP256)
		clock.Advance(3 * time.Hour) // nobody advanced for two hours past activate_at
		advance(t, ring, keyring.OIDCSigning, true)
		if got := byID(t, ring, keyring.OIDCSigning)[old.ID]; !got.RetireAt.Equal(start.Add(27 * time.Hour)) {
			t.Fatalf("retire_at = %v, want activation + 24h", got.RetireAt)
		}
	})
	lifecycleCase(t, "an emergency rotation signs at once and keeps the old key published for the retain time", func(t *testing.T, d testenv.Database) {
		clock := testenv.NewClock(start)
		ring, _ := newRing(t, d.URL, keyring.WithClock(clock.Now))
		old, _ := ring.Create(ctx, keyring.OIDCSigning, hsm.ECP256)
		pending, _ := ring.Rotate(ctx, keyring.OIDCSigning, hsm.ECP256)
		clock.Advance(time.Minute)
		now, err := ring.RotateNow(ctx, keyring.OIDCSigning, hsm.ECP384)
		if err != nil || now.State != keyring.Active {
			t.Fatalf("RotateNow: %+v %v", now, err)
		}
		keys := byID(t, ring, keyring.OIDCSigning)
		if k := keys[old.ID]; k.State != keyring.Retiring || !k.RetireAt.Equal(start.Add(time.Minute+24*time.Hour)) {
			t.Fatalf("old key: %+v", k)
		}
		if k := keys[pending.ID]; k.State != keyring.Retired {
			t.Fatalf("the pending key, which never signed, is retired: %+v", k)
		}
		if k, s, err := ring.Signer(ctx, keyring.OIDCSigning); err != nil || k.ID != now.ID || s.Algorithm() != hsm.ECP384 {
			t.Fatalf("signer: %v %v", k.ID, err)
		}
	})
	lifecycleCase(t, "roles nobody fetches ahead rotate at once and keep the old key until an operator acts", func(t *testing.T, d testenv.Database) {
		clock := testenv.NewClock(start)
		ring, _ := newRing(t, d.URL, keyring.WithClock(clock.Now))
		old, _ := ring.Create(ctx, keyring.VaultKEK, hsm.AES256)
		next, err := ring.Rotate(ctx, keyring.VaultKEK, hsm.AES256)
		if err != nil || next.State != keyring.Active {
			t.Fatalf("rotate: %+v %v", next, err)
		}
		clock.Advance(10 * 365 * 24 * time.Hour)
		advance(t, ring, keyring.VaultKEK, false)
		if k := byID(t, ring, keyring.VaultKEK)[old.ID]; k.State != keyring.Retiring || !k.RetireAt.IsZero() {
			t.Fatalf("old KEK: %+v", k)
		}
	})
	lifecycleCase(t, "nodes advancing at once leave exactly one active key", func(t *testing.T, d testenv.Database) {
		clock := testenv.NewClock(start)
		ring, km := newRing(t, d.URL, keyring.WithClock(clock.Now))
		ring.Create(ctx, keyring.OIDCSigning, hsm.ECP256)
		next, _ := ring.Rotate(ctx, keyring.OIDCSigning, hsm.ECP256)
		clock.Advance(time.Hour)
		var wg sync.WaitGroup
		changed := make([]bool, 8)
		errs := make([]error, 8)
		for i := range changed {
			// Each "node" has its own connection pool and keyring.
			node := keyring.New(testenv.OpenDB(t, d.URL), km, keyring.WithClock(clock.Now))
			wg.Go(func() { changed[i], errs[i] = node.Advance(ctx, keyring.OIDCSigning) })
		}
		wg.Wait()
		n := 0
		for i := range changed {
			if errs[i] != nil {
				t.Fatalf("node %d: %v", i, errs[i])
			}
			if changed[i] {
				n++
			}
		}
		states := map[keyring.State]int{}
		for _, k := range byID(t, ring, keyring.OIDCSigning) {
			states[k.State]++
		}
		if states[keyring.Active] != 1 || states[keyring.Retiring] != 1 || states[keyring.Next] != 0 || n != 1 {
			t.Fatalf("states %v, %d nodes reported a change", states, n)
		}
		if k, _ := ring.Active(ctx, keyring.OIDCSigning); k.ID != next.ID {
			t.Fatalf("active %s, want %s", k.ID, next.ID)
		}
	})
}

// Migration 0005 rebuilds hsm_keys on SQLite: keys registered under 0001
// survive it, and the constraints hold afterwards.
func TestMigration0005KeepsKeys(t *testing.T) {
	ctx := context.Background()
	for _, e := range testenv.Databases(t) {
		t.Run(string(e.Engine), func(t *testing.T) {
			d, err := db.Open(ctx, e.URL, db.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			sub, _ := fs.Sub(migrations.FS, string(e.Engine))
			before := fstest.MapFS{}
			for _, name := range []string{"0001_keys.sql", "0002_residents.sql", "0003_web_flows.sql", "0004_clients.sql"} {
				b, err := fs.ReadFile(sub, name)
				if err != nil {
					t.Fatal(err)
				}
				before[name] = &fstest.MapFile{Data: b}
			}
			if _, err := d.MigrateFS(ctx, before); err != nil {
				t.Fatal(err)
			}
			us := start.UnixMicro()
			for _, row := range []struct{ id, state string }{{"k-active", "active"}, {"k-retiring", "retiring"}, {"k-retired", "retired"}} {
				if _, err := d.ExecContext(ctx,
					`INSERT INTO hsm_keys (id, role, algorithm, uri, state, created_at, activated_at, retired_at) VALUES ($1, 'oidc-signing', 'EC-P256', $2, $3, $4, $4, $5)`,
					row.id, "soft:"+row.id, row.state, us, us+1); err != nil {
					t.Fatal(err)
				}
			}
			applied, err := d.Migrate(ctx)
			if err != nil || len(applied) == 0 || applied[0].Name != "key_lifecycle" {
				t.Fatalf("migrate: %v %v", applied, err)
			}
			km, _ := soft.Open(ctx, soft.Options{Dir: t.TempDir(), MasterKey: make([]byte, 32)})
			t.Cleanup(func() { km.Close() })
			ring := keyring.New(d, km)
			keys := byID(t, ring, keyring.OIDCSigning)
			for _, id := range []string{"k-active", "k-retiring", "k-retired"} {
				k := keys[id]
				if string(k.State) != strings.TrimPrefix(id, "k-") || k.URI != "soft:"+id || !k.CreatedAt.Equal(start) ||
					!k.ActivatedAt.Equal(start) || k.RetiredAt.UnixMicro() != us+1 || !k.ActivateAt.IsZero() || !k.RetireAt.IsZero() {
					t.Fatalf("%s after 0005: %+v", id, k)
				}
			}
			for _, bad := range []struct{ name, sql string }{
				{"a second active key", `INSERT INTO hsm_keys (id, role, algorithm, uri, state, created_at) VALUES ('x1', 'oidc-signing', 'EC-P256', 'soft:x1', 'active', 1)`},
				{"a duplicate URI", `INSERT INTO hsm_keys (id, role, algorithm, uri, state, created_at) VALUES ('x2', 'tsa', 'EC-P256', 'soft:k-active', 'active', 1)`},
				{"an unknown state", `INSERT INTO hsm_keys (id, role, algorithm, uri, state, created_at) VALUES ('x3', 'tsa', 'EC-P256', 'soft:x3', 'lost', 1)`},
				{"a next key without activate_at", `INSERT INTO hsm_keys (id, role, algorithm, uri, state, created_at) VALUES ('x4', 'tsa', 'EC-P256', 'soft:x4', 'next', 1)`},
			} {
				if _, err := d.ExecContext(ctx, bad.sql); err == nil {
					t.Errorf("%s was accepted", bad.name)
				}
			}
			ok := `INSERT INTO hsm_keys (id, role, algorithm, uri, state, created_at, activate_at) VALUES ($1, 'oidc-signing', 'EC-P256', $2, 'next', 1, 2)`
			if _, err := d.ExecContext(ctx, ok, "n1", "soft:n1"); err != nil {
				t.Fatalf("a next key: %v", err)
			}
			if _, err := d.ExecContext(ctx, ok, "n2", "soft:n2"); err == nil {
				t.Fatal("a second next key for the role was accepted")
			}
		})
	}
}
