package seed_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"eidp/bench/seed"
	"eidp/bench/seed/population"
	"eidp/hsm/keyring"
	"eidp/hsm/soft"
	"eidp/idp/account"
	"eidp/idp/client"
	"eidp/idp/consent"
	"eidp/idp/passkey"
	"eidp/idp/passkey/passkeytest"
	"eidp/idp/proofing"
	"eidp/internal/db"
	"eidp/internal/testenv"
	"eidp/vault"
	"eidp/vault/attr"
)

var keySeed = []byte("benchmark key seed, 32 bytes...!")

func openVault(t *testing.T, d *db.DB) *vault.Vault {
	t.Helper()
	ctx := context.Background()
	km, err := soft.Open(ctx, soft.Options{Dir: t.TempDir(), MasterKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	ring := keyring.New(d, km)
	if _, _, err := ring.Ensure(ctx, keyring.VaultKEK); err != nil {
		t.Fatal(err)
	}
	return vault.New(d, ring, km, vault.Options{SchemaVersion: attr.SchemaVersion})
}

func benchClient(t *testing.T, d *db.DB) string {
	t.Helper()
	c, secret, created, err := seed.EnsureClient(context.Background(), client.NewStore(d, client.Options{}), "eidp-bench")
	if err != nil || !created || secret == "" || c.ClientID != "eidp-bench" {
		t.Fatalf("EnsureClient = %+v, secret %t, created %t, %v", c, secret != "", created, err)
	}
	return c.ClientID
}

func count(t *testing.T, d *db.DB, table string) int {
	t.Helper()
	var n int
	if err := d.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// loginAs runs a discoverable login against the passkey service with
// resident index's derived passkey, as the load generator does, and
// returns who logged in.
func loginAs(t *testing.T, svc *passkey.Service, seedBytes []byte, index int, residentID string) (passkey.Credential, error) {
	t.Helper()
	ctx := context.Background()
	r := population.Derive(seedBytes, index)
	a := passkeytest.NewAuthenticator("http://localhost:8080", passkeytest.WithCounter(passkeytest.CounterZero))
	a.AddCredential(r.CredentialID, r.Key, []byte(residentID), "localhost")
	flow := hex.EncodeToString(r.CredentialID)
	opts, err := svc.BeginLogin(ctx, flow)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.Get(opts)
	if err != nil {
		t.Fatal(err)
	}
	return svc.FinishLogin(ctx, flow, resp)
}

func TestSeed(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		v := openVault(t, d)
		clientID := benchClient(t, d)
		deps := seed.Deps{DB: d, Vault: v}
		var progress []seed.Progress
		opts := seed.Options{Residents: 12, KeySeed: keySeed, ClientID: clientID, Vault: true, BatchSize: 5,
			Progress: func(p seed.Progress) { progress = append(progress, p) }}
		res, err := seed.Run(ctx, deps, opts)
		if err != nil {
			t.Fatal(err)
		}
		if want := (seed.Result{Created: 12, Credentials: 12, Consents: 12, Attributes: 60}); res != want {
			t.Fatalf("first run: %+v, want %+v", res, want)
		}
		if len(progress) != 3 || progress[2].Done != 12 || progress[2].Total != 12 || progress[0].Done != 5 {
			t.Errorf("progress reports: %+v", progress)
		}

		accounts := account.NewStore(d)
		consents := consent.NewStore(d)
		svc, err := passkey.New(d, passkey.Config{RPID: "localhost", Origins: []string{"http://localhost:8080"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range []int{0, 7, 11} {
			idNumber, err := seed.IDNumber(i)
			if err != nil {
				t.Fatal(err)
			}
			r, err := accounts.ByIDNumber(ctx, idNumber)
			if err != nil {
				t.Fatalf("resident %d (%s): %v", i, idNumber, err)
			}
			if r.ID != population.Derive(keySeed, i).ID || r.Status != account.StatusActive || r.Level != "substantial" {
				t.Fatalf("resident %d: %+v", i, r)
			}
			// The stored passkey verifies the generator's assertion.
			cred, err := loginAs(t, svc, keySeed, i, r.ID)
			if err != nil || cred.ResidentID != r.ID {
				t.Fatalf("login as resident %d: %v (%q)", i, err, cred.ResidentID)
			}
			c, err := consents.Get(ctx, r.ID, clientID)
			if err != nil {
				t.Fatal(err)
			}
			wantScopes := append(seed.LoginScopes(), seed.VaultScopes()...)
			slices.Sort(wantScopes)
			if !slices.Equal(c.Scopes, wantScopes) {
				t.Errorf("resident %d consented to %v, want %v", i, c.Scopes, wantScopes)
			}
			for _, claim := range []string{"name", "birthdate", "address", "phone_number", "email", "eidp_occupation", "eidp_emergency_contact"} {
				if !slices.Contains(c.Claims, claim) {
					t.Errorf("resident %d's consent lacks %s: %v", i, claim, c.Claims)
				}
			}
			attrs, err := v.Get(ctx, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			want, err := seed.VaultAttributes(i)
			if err != nil {
				t.Fatal(err)
			}
			if len(attrs) != 5 {
				t.Fatalf("resident %d keeps %d attributes", i, len(attrs))
			}
			for _, a := range attrs {
				if !bytes.Equal(a.Value, want[attr.Name(a.Name)]) || a.Source != "resident" {
					t.Errorf("resident %d's %s = %s (%s)", i, a.Name, a.Value, a.Source)
				}
			}
		}
		// Another seed's key for the same resident is refused.
		r0 := population.Derive(keySeed, 0)
		if _, err := loginAs(t, svc, []byte("another seed, not the population's"), 0, r0.ID); !errors.Is(err, passkey.ErrUnknownCredential) {
			t.Fatalf("login with another seed: %v, want ErrUnknownCredential", err)
		}

		t.Run("a second run changes nothing", func(t *testing.T) {
			res, err := seed.Run(ctx, deps, opts)
			if err != nil || res != (seed.Result{Existing: 12}) {
				t.Fatalf("second run: %+v, %v", res, err)
			}
			if n := count(t, d, "residents"); n != 12 {
				t.Fatalf("%d residents", n)
			}
		})

		t.Run("a larger number extends the population", func(t *testing.T) {
			opts := opts
			opts.Residents = 15
			res, err := seed.Run(ctx, deps, opts)
			if err != nil || res != (seed.Result{Created: 3, Existing: 12, Credentials: 3, Consents: 3, Attributes: 15}) {
				t.Fatalf("extending run: %+v, %v", res, err)
			}
			if n := count(t, d, "passkey_credentials"); n != 15 {
				t.Fatalf("%d passkeys", n)
			}
		})

		t.Run("another key seed is refused and writes nothing", func(t *testing.T) {
			before := count(t, d, "residents")
			opts := opts
			opts.KeySeed = []byte("a different seed for the same people")
			opts.Residents = 20
			if _, err := seed.Run(ctx, deps, opts); !errors.Is(err, seed.ErrOtherSeed) {
				t.Fatalf("run with another seed: %v, want ErrOtherSeed", err)
			}
			if n := count(t, d, "residents"); n != before {
				t.Fatalf("%d residents after a refused run, %d before", n, before)
			}
		})
	})
}

func TestSeedWithoutVaultThenWithIt(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		clientID := benchClient(t, d)
		opts := seed.Options{Residents: 3, KeySeed: keySeed, ClientID: clientID}
		res, err := seed.Run(ctx, seed.Deps{DB: d}, opts)
		if err != nil || res != (seed.Result{Created: 3, Credentials: 3, Consents: 3}) {
			t.Fatalf("without the vault: %+v, %v", res, err)
		}
		c, err := consent.NewStore(d).Get(ctx, population.Derive(keySeed, 1).ID, clientID)
		if err != nil || !slices.Equal(c.Scopes, []string{"openid", "profile"}) || slices.Contains(c.Claims, "email") {
			t.Fatalf("consent without the vault: %+v, %v", c, err)
		}
		opts.Vault = true
		res, err = seed.Run(ctx, seed.Deps{DB: d, Vault: openVault(t, d)}, opts)
		if err != nil || res != (seed.Result{Existing: 3, Consents: 3, Attributes: 15}) {
			t.Fatalf("with the vault: %+v, %v", res, err)
		}
		c, err = consent.NewStore(d).Get(ctx, population.Derive(keySeed, 1).ID, clientID)
		if err != nil || !slices.Contains(c.Scopes, "eidp:emergency_contact") || !slices.Contains(c.Claims, "email") {
			t.Fatalf("consent widened: %+v, %v", c, err)
		}
	})
}

func TestSeedRefusesBadOptions(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		clientID := benchClient(t, d)
		good := seed.Options{Residents: 2, KeySeed: keySeed, ClientID: clientID}
		for _, tc := range []struct {
			name string
			deps seed.Deps
			edit func(*seed.Options)
			want error
		}{
			{"no residents", seed.Deps{DB: d}, func(o *seed.Options) { o.Residents = 0 }, seed.ErrOptions},
			{"more residents than ID numbers", seed.Deps{DB: d}, func(o *seed.Options) { o.Residents = seed.MaxResidents + 1 }, seed.ErrOptions},
			{"a short key seed", seed.Deps{DB: d}, func(o *seed.Options) { o.KeySeed = keySeed[:15] }, population.ErrKeySeed},
			{"no client", seed.Deps{DB: d}, func(o *seed.Options) { o.ClientID = "" }, seed.ErrOptions},
			{"an unknown client", seed.Deps{DB: d}, func(o *seed.Options) { o.ClientID = "no-such-client" }, client.ErrNotFound},
			{"the vault without a vault", seed.Deps{DB: d}, func(o *seed.Options) { o.Vault = true }, seed.ErrOptions},
			{"a negative batch", seed.Deps{DB: d}, func(o *seed.Options) { o.BatchSize = -1 }, seed.ErrOptions},
			{"no database", seed.Deps{}, func(*seed.Options) {}, seed.ErrOptions},
		} {
			t.Run(tc.name, func(t *testing.T) {
				o := good
				tc.edit(&o)
				if _, err := seed.Run(ctx, tc.deps, o); !errors.Is(err, tc.want) {
					t.Fatalf("Run = %v, want %v", err, tc.want)
				}
				if n := count(t, d, "residents"); n != 0 {
					t.Fatalf("%d residents written", n)
				}
			})
		}
	})
}

func TestIDNumbers(t *testing.T) {
	seen := map[string]bool{}
	for _, i := range []int{0, 1, 9, 10, 42, 999, 123456, seed.MaxResidents - 1} {
		n, err := seed.IDNumber(i)
		if err != nil {
			t.Fatal(err)
		}
		if norm, err := proofing.NormalizeIDNumber(n); err != nil || norm != n || n[0] != 'Z' || len(n) != 8 {
			t.Fatalf("IDNumber(%d) = %q: %v", i, n, err)
		}
		if seen[n] {
			t.Fatalf("IDNumber(%d) = %q repeats", i, n)
		}
		seen[n] = true
	}
	if n, _ := seed.IDNumber(42); proofing.FormatIDNumber(n)[:7] != "Z000042" {
		t.Errorf("IDNumber(42) = %q", n)
	}
	for _, i := range []int{-1, seed.MaxResidents} {
		if _, err := seed.IDNumber(i); !errors.Is(err, seed.ErrOptions) {
			t.Errorf("IDNumber(%d): %v", i, err)
		}
	}
}

func TestVaultAttributesAreValidAndDistinct(t *testing.T) {
	a, err := seed.VaultAttributes(3)
	if err != nil {
		t.Fatal(err)
	}
	b, err := seed.VaultAttributes(4)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 5 {
		t.Fatalf("%d attributes", len(a))
	}
	for name, v := range a {
		if canon, err := attr.Validate(name, v); err != nil || !bytes.Equal(canon, v) {
			t.Errorf("%s = %s is not canonical: %v", name, v, err)
		}
	}
	var phone string
	json.Unmarshal(a[attr.MobilePhone], &phone)
	if phone != "+85291000003" || bytes.Equal(a[attr.Email], b[attr.Email]) {
		t.Errorf("mobile %q; emails %s, %s", phone, a[attr.Email], b[attr.Email])
	}
}

func TestEnsureClient(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		store := client.NewStore(d, client.Options{})
		benchClient(t, d)
		// Again: the bench client is updated, its secret kept.
		c, secret, created, err := seed.EnsureClient(ctx, store, "eidp-bench")
		if err != nil || created || secret != "" || c.ClientName != seed.BenchClientName ||
			c.TokenEndpointAuthMethod != client.AuthClientSecretBasic || !slices.Equal(c.RedirectURIs, []string{seed.BenchRedirectURI}) {
			t.Fatalf("second EnsureClient = %+v, secret %t, created %t, %v", c, secret != "", created, err)
		}
		for _, s := range append(seed.LoginScopes(), seed.VaultScopes()...) {
			if s != "openid" && !c.IsScopeAllowed(s) {
				t.Errorf("the bench client may not ask for %s", s)
			}
		}
		// Someone else's client is taken as it is.
		other, _, err := store.Create(ctx, client.Client{ClientID: "demo-rp", ClientName: "Demo",
			RedirectURIs: []string{"http://127.0.0.1:8081/cb"}, Scope: "openid profile"})
		if err != nil {
			t.Fatal(err)
		}
		c, secret, created, err = seed.EnsureClient(ctx, store, "demo-rp")
		if err != nil || created || secret != "" || c.ClientName != "Demo" || c.Scope != other.Scope {
			t.Fatalf("EnsureClient of another client = %+v, created %t, %v", c, created, err)
		}
	})
}
