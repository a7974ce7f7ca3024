package seed_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"eidp/bench/seed"
	"eidp/bench/seed/population"
	"eidp/hsm/keyring"
	"eidp/hsm/soft"
	"eidp/idp/account"
	"eidp/idp/consent"
	"eidp/internal/db"
	"eidp/internal/testenv"
	"eidp/signing/ca"
)

func openCA(t *testing.T, d *db.DB) *ca.Authority {
	t.Helper()
	ctx := context.Background()
	km, err := soft.Open(ctx, soft.Options{Dir: t.TempDir(), MasterKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	a, err := ca.New(d, keyring.New(d, km), km, ca.Config{BaseURL: "http://localhost:8080"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Init(ctx); err != nil {
		t.Fatal(err)
	}
	return a
}

func TestSeedWithCertificates(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		clientID := benchClient(t, d)
		authority := openCA(t, d)
		deps := seed.Deps{DB: d, CA: authority}
		// Three residents seeded before, at level substantial.
		if _, err := seed.Run(ctx, deps, seed.Options{Residents: 3, KeySeed: keySeed, ClientID: clientID}); err != nil {
			t.Fatal(err)
		}
		var progress []seed.Progress
		opts := seed.Options{Residents: 5, KeySeed: keySeed, ClientID: clientID, Certificates: true, BatchSize: 2, Workers: 2,
			Progress: func(p seed.Progress) { progress = append(progress, p) }}
		res, err := seed.Run(ctx, deps, opts)
		if err != nil {
			t.Fatal(err)
		}
		if res.IssueTime <= 0 {
			t.Errorf("issuance time %v", res.IssueTime)
		}
		res.IssueTime = 0
		if want := (seed.Result{Created: 2, Existing: 3, Credentials: 2, Consents: 5, Certificates: 5}); res != want {
			t.Fatalf("run with certificates: %+v, want %+v", res, want)
		}
		if len(progress) != 3 || progress[0].Certificates != 2 || progress[2].Certificates != 5 {
			t.Errorf("progress: %+v", progress)
		}
		accounts := account.NewStore(d)
		for i := range 5 {
			r := population.Derive(keySeed, i)
			resident, err := accounts.Get(ctx, r.ID)
			if err != nil || resident.Level != ca.LevelHigh {
				t.Fatalf("resident %d: %+v, %v", i, resident, err)
			}
			c, err := authority.Current(ctx, r.ID)
			if err != nil {
				t.Fatalf("resident %d's certificate: %v", i, err)
			}
			if cn := c.Cert.Subject.CommonName; cn != resident.GivenNames+" BENCH" {
				t.Errorf("resident %d's certificate is for %q", i, cn)
			}
			cons, err := consent.NewStore(d).Get(ctx, r.ID, clientID)
			if err != nil || !slices.Contains(cons.Scopes, "service") || slices.Contains(cons.Scopes, "credential") {
				t.Errorf("resident %d's consent: %+v, %v", i, cons.Scopes, err)
			}
			// Raised residents have the change in their activity log; new
			// ones were created at level high.
			events, err := accounts.Activity(ctx, r.ID, 10)
			if err != nil {
				t.Fatal(err)
			}
			raised := slices.ContainsFunc(events, func(e account.Event) bool { return e.Kind == account.KindLevelChanged })
			if raised != (i < 3) {
				t.Errorf("resident %d: level change recorded %t", i, raised)
			}
		}

		t.Run("a second run issues nothing", func(t *testing.T) {
			res, err := seed.Run(ctx, deps, opts)
			if err != nil || res != (seed.Result{Existing: 5}) {
				t.Fatalf("second run: %+v, %v", res, err)
			}
		})
		t.Run("a revoked certificate is replaced", func(t *testing.T) {
			r1 := population.Derive(keySeed, 1)
			if _, err := authority.RevokeResident(ctx, r1.ID, ca.ReasonCessationOfOperation, "test"); err != nil {
				t.Fatal(err)
			}
			res, err := seed.Run(ctx, deps, opts)
			if err != nil || res.Certificates != 1 || res.Created != 0 {
				t.Fatalf("run after a revocation: %+v, %v", res, err)
			}
			all, err := authority.Certificates(ctx, r1.ID)
			if err != nil || len(all) != 2 {
				t.Fatalf("resident 1's certificates after the run: %d, %v", len(all), err)
			}
			// Issued within the same second: their order is not defined.
			statuses := []string{all[0].Status, all[1].Status}
			slices.Sort(statuses)
			if !slices.Equal(statuses, []string{ca.StatusRevoked, ca.StatusValid}) {
				t.Fatalf("resident 1's certificates: %v, want one revoked and one valid", statuses)
			}
		})
		t.Run("certificates need a CA", func(t *testing.T) {
			if _, err := seed.Run(ctx, seed.Deps{DB: d}, opts); !errors.Is(err, seed.ErrOptions) {
				t.Fatalf("without a CA: %v, want ErrOptions", err)
			}
		})
	})
}
