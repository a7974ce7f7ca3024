package consent_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"eidp/idp/account"
	"eidp/idp/claims"
	"eidp/idp/client"
	"eidp/idp/consent"
	"eidp/internal/db"
	"eidp/internal/testenv"
)

// fixture is a migrated database with two residents and two clients.
type fixture struct {
	store              *consent.Store
	clock              *testenv.Clock
	alice, bob         string // resident IDs
	taxClient, bankApp string // client IDs
}

// residents counts the residents fixtures created, so that each gets an
// unused ID-card number in the database the subtests share.
var residents atomic.Int64

func newFixture(t *testing.T, d *db.DB) fixture {
	t.Helper()
	ctx := context.Background()
	accounts := account.NewStore(d)
	newResident := func(surname string) string {
		r, err := accounts.Create(ctx, account.Profile{
			IDNumber: fmt.Sprintf("Z%07d", residents.Add(1)), Surname: surname, GivenNames: "Tai Man", BirthDate: "1990-07-01", Gender: "M",
		}, "substantial")
		if err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	clients := client.NewStore(d, client.Options{})
	newClient := func(name, redirect string) string {
		c, _, err := clients.Create(ctx, client.Client{
			ClientName:              name,
			RedirectURIs:            []string{redirect},
			TokenEndpointAuthMethod: client.AuthClientSecretBasic,
		})
		if err != nil {
			t.Fatal(err)
		}
		return c.ClientID
	}
	f := fixture{
		store:     consent.NewStore(d),
		clock:     testenv.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 123456789, time.UTC)),
		alice:     newResident("Chan"),
		bob:       newResident("Wong"),
		taxClient: newClient("Tax Department e-Filing", "https://tax.example.gov/callback"),
		bankApp:   newClient("Harbour Bank", "https://bank.example.com/callback"),
	}
	consent.SetNow(f.store, f.clock.Now)
	return f
}

// count returns the number of rows in oidc_consents.
func count(t *testing.T, d *db.DB) int {
	t.Helper()
	var n int
	if err := d.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM oidc_consents`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestStore(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()

		t.Run("what Save returns is what Get reads, sorted and without duplicates", func(t *testing.T) {
			f := newFixture(t, d)
			saved, err := f.store.Save(ctx, consent.Consent{
				ResidentID: f.alice, ClientID: f.taxClient,
				Scopes: []string{"profile", "openid", "profile"},
				Claims: []string{"name#zh-Hant", "given_name", "name#zh-Hant", "birthdate"},
			})
			if err != nil {
				t.Fatal(err)
			}
			now := f.clock.Now().UTC().Truncate(time.Microsecond)
			want := consent.Consent{
				ResidentID: f.alice, ClientID: f.taxClient,
				Scopes:    []string{"openid", "profile"},
				Claims:    []string{"birthdate", "given_name", "name#zh-Hant"},
				CreatedAt: now, UpdatedAt: now,
			}
			if !reflect.DeepEqual(saved, want) {
				t.Fatalf("Save returned\n %+v\nwant\n %+v", saved, want)
			}
			got, err := f.store.Get(ctx, f.alice, f.taxClient)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("Get returned\n %+v\nwant\n %+v", got, want)
			}
			var scope, claimsJSON string
			if err := d.QueryRowContext(ctx, `SELECT scope, claims FROM oidc_consents WHERE resident_id = $1 AND client_id = $2`,
				f.alice, f.taxClient).Scan(&scope, &claimsJSON); err != nil {
				t.Fatal(err)
			}
			if scope != "openid profile" || claimsJSON != `["birthdate","given_name","name#zh-Hant"]` {
				t.Errorf("stored scope %q and claims %s", scope, claimsJSON)
			}
		})

		t.Run("a consent without claims stores an empty array and reads back as none", func(t *testing.T) {
			f := newFixture(t, d)
			if _, err := f.store.Save(ctx, consent.Consent{ResidentID: f.alice, ClientID: f.taxClient, Scopes: []string{"openid"}}); err != nil {
				t.Fatal(err)
			}
			got, err := f.store.Get(ctx, f.alice, f.taxClient)
			if err != nil {
				t.Fatal(err)
			}
			if got.Claims != nil || !reflect.DeepEqual(got.Scopes, []string{"openid"}) {
				t.Errorf("got %+v", got)
			}
		})

		t.Run("saving again replaces scopes and claims and keeps CreatedAt", func(t *testing.T) {
			f := newFixture(t, d)
			first, err := f.store.Save(ctx, consent.Consent{ResidentID: f.alice, ClientID: f.taxClient,
				Scopes: []string{"openid", "profile"}, Claims: []string{"name", "gender"}})
			if err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(48 * time.Hour)
			second, err := f.store.Save(ctx, consent.Consent{ResidentID: f.alice, ClientID: f.taxClient,
				Scopes: []string{"openid"}, Claims: []string{"birthdate"},
				CreatedAt: time.Unix(1, 0), UpdatedAt: time.Unix(2, 0)}) // ignored
			if err != nil {
				t.Fatal(err)
			}
			if !second.CreatedAt.Equal(first.CreatedAt) {
				t.Errorf("CreatedAt changed from %v to %v", first.CreatedAt, second.CreatedAt)
			}
			if want := first.UpdatedAt.Add(48 * time.Hour); !second.UpdatedAt.Equal(want) {
				t.Errorf("UpdatedAt = %v, want %v", second.UpdatedAt, want)
			}
			got, err := f.store.Get(ctx, f.alice, f.taxClient)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, second) {
				t.Errorf("Get = %+v, want %+v", got, second)
			}
			if !reflect.DeepEqual(got.Scopes, []string{"openid"}) || !reflect.DeepEqual(got.Claims, []string{"birthdate"}) {
				t.Errorf("scopes %v, claims %v: not replaced", got.Scopes, got.Claims)
			}
			var n int
			if err := d.QueryRowContext(ctx, `SELECT COUNT(*) FROM oidc_consents WHERE resident_id = $1`, f.alice).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Errorf("%d rows for the resident, want 1", n)
			}
		})

		t.Run("List gives one resident's consents, most recently updated first", func(t *testing.T) {
			f := newFixture(t, d)
			save := func(resident, clientID string) {
				t.Helper()
				if _, err := f.store.Save(ctx, consent.Consent{ResidentID: resident, ClientID: clientID, Scopes: []string{"openid"}}); err != nil {
					t.Fatal(err)
				}
				f.clock.Advance(time.Minute)
			}
			save(f.alice, f.taxClient)
			save(f.alice, f.bankApp)
			save(f.bob, f.taxClient)
			list, err := f.store.List(ctx, f.alice)
			if err != nil {
				t.Fatal(err)
			}
			if got := clientIDs(list); !reflect.DeepEqual(got, []string{f.bankApp, f.taxClient}) {
				t.Fatalf("List = %v, want bank then tax", got)
			}
			save(f.alice, f.taxClient) // renewed: now the newest
			list, err = f.store.List(ctx, f.alice)
			if err != nil {
				t.Fatal(err)
			}
			if got := clientIDs(list); !reflect.DeepEqual(got, []string{f.taxClient, f.bankApp}) {
				t.Fatalf("after renewing, List = %v, want tax then bank", got)
			}
			for _, c := range list {
				if c.ResidentID != f.alice {
					t.Errorf("List for alice returned a consent of %s", c.ResidentID)
				}
			}
			none, err := f.store.List(ctx, "no-such-resident")
			if err != nil || len(none) != 0 {
				t.Errorf("List of an unknown resident = %v, %v; want none", none, err)
			}
		})

		t.Run("Delete withdraws one consent and leaves the others", func(t *testing.T) {
			f := newFixture(t, d)
			for _, c := range []consent.Consent{
				{ResidentID: f.alice, ClientID: f.taxClient, Scopes: []string{"openid"}},
				{ResidentID: f.alice, ClientID: f.bankApp, Scopes: []string{"openid"}},
				{ResidentID: f.bob, ClientID: f.taxClient, Scopes: []string{"openid"}},
			} {
				if _, err := f.store.Save(ctx, c); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.store.Delete(ctx, f.alice, f.taxClient); err != nil {
				t.Fatal(err)
			}
			if _, err := f.store.Get(ctx, f.alice, f.taxClient); !errors.Is(err, consent.ErrNotFound) {
				t.Errorf("Get after Delete: %v, want ErrNotFound", err)
			}
			if err := f.store.Delete(ctx, f.alice, f.taxClient); !errors.Is(err, consent.ErrNotFound) {
				t.Errorf("second Delete: %v, want ErrNotFound", err)
			}
			for _, k := range [][2]string{{f.alice, f.bankApp}, {f.bob, f.taxClient}} {
				if _, err := f.store.Get(ctx, k[0], k[1]); err != nil {
					t.Errorf("another consent went with it: %v", err)
				}
			}
		})

		t.Run("Get and Delete of a consent never given are ErrNotFound", func(t *testing.T) {
			f := newFixture(t, d)
			if _, err := f.store.Get(ctx, f.alice, f.taxClient); !errors.Is(err, consent.ErrNotFound) {
				t.Errorf("Get: %v, want ErrNotFound", err)
			}
			if err := f.store.Delete(ctx, f.alice, f.bankApp); !errors.Is(err, consent.ErrNotFound) {
				t.Errorf("Delete: %v, want ErrNotFound", err)
			}
		})

		t.Run("consent for an unknown client or resident fails clearly and stores nothing", func(t *testing.T) {
			f := newFixture(t, d)
			before := count(t, d)
			_, err := f.store.Save(ctx, consent.Consent{ResidentID: f.alice, ClientID: "no-such-client", Scopes: []string{"openid"}})
			if !errors.Is(err, consent.ErrUnknownClient) || !strings.Contains(err.Error(), "no such client") {
				t.Errorf("unknown client: %v, want ErrUnknownClient", err)
			}
			_, err = f.store.Save(ctx, consent.Consent{ResidentID: "no-such-resident", ClientID: f.taxClient, Scopes: []string{"openid"}})
			if !errors.Is(err, consent.ErrUnknownResident) || !strings.Contains(err.Error(), "no such resident") {
				t.Errorf("unknown resident: %v, want ErrUnknownResident", err)
			}
			if n := count(t, d); n != before {
				t.Errorf("%d rows after failed saves, want %d", n, before)
			}
		})

		t.Run("malformed consents are refused and store nothing", func(t *testing.T) {
			f := newFixture(t, d)
			before := count(t, d)
			tests := []struct {
				name string
				c    consent.Consent
				says string
			}{
				{"no resident", consent.Consent{ClientID: f.taxClient}, "resident ID empty"},
				{"no client", consent.Consent{ResidentID: f.alice}, "client ID empty"},
				{"an overlong client ID", consent.Consent{ResidentID: f.alice, ClientID: strings.Repeat("c", 129)}, "client ID empty or longer than 128"},
				{"a scope with a space", consent.Consent{ResidentID: f.alice, ClientID: f.taxClient, Scopes: []string{"openid profile"}}, `scope "openid profile" is not a scope token`},
				{"an empty scope", consent.Consent{ResidentID: f.alice, ClientID: f.taxClient, Scopes: []string{"openid", ""}}, `scope "" is not a scope token`},
				{"a scope with a quote", consent.Consent{ResidentID: f.alice, ClientID: f.taxClient, Scopes: []string{`a"b`}}, "is not a scope token"},
				{"an empty claim name", consent.Consent{ResidentID: f.alice, ClientID: f.taxClient, Claims: []string{"name", ""}}, "empty claim name"},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					_, err := f.store.Save(ctx, tt.c)
					if !errors.Is(err, consent.ErrInvalid) || !strings.Contains(err.Error(), tt.says) {
						t.Errorf("error %v, want ErrInvalid saying %q", err, tt.says)
					}
				})
			}
			if n := count(t, d); n != before {
				t.Errorf("%d rows after refused saves, want %d", n, before)
			}
		})

		t.Run("a consent goes when its client is deleted", func(t *testing.T) {
			f := newFixture(t, d)
			if _, err := f.store.Save(ctx, consent.Consent{ResidentID: f.alice, ClientID: f.bankApp, Scopes: []string{"openid"}}); err != nil {
				t.Fatal(err)
			}
			if _, err := d.ExecContext(ctx, `DELETE FROM oauth_clients WHERE id = $1`, f.bankApp); err != nil {
				t.Fatal(err)
			}
			if _, err := f.store.Get(ctx, f.alice, f.bankApp); !errors.Is(err, consent.ErrNotFound) {
				t.Errorf("Get after the client was deleted: %v, want ErrNotFound", err)
			}
		})
	})
}

func clientIDs(list []consent.Consent) []string {
	var out []string
	for _, c := range list {
		out = append(out, c.ClientID)
	}
	return out
}

func TestCovers(t *testing.T) {
	given := consent.Consent{
		Scopes: []string{"openid", "profile"},
		Claims: []string{"birthdate", "given_name", "name"},
	}
	voluntary := func(n string) claims.Item { return claims.Item{Name: n, UserInfo: true} }
	essential := func(n string) claims.Item { return claims.Item{Name: n, Essential: true, IDToken: true} }
	tests := []struct {
		name   string
		scopes []string
		items  []claims.Item
		want   bool
	}{
		{"the same request", []string{"openid", "profile"}, []claims.Item{voluntary("name"), voluntary("birthdate")}, true},
		{"fewer scopes", []string{"openid"}, nil, true},
		{"nothing at all", nil, nil, true},
		{"a scope not consented to", []string{"openid", "eidp:idcard"}, nil, false},
		{"an essential claim consented to", []string{"openid"}, []claims.Item{essential("given_name")}, true},
		{"an essential claim not consented to", []string{"openid"}, []claims.Item{voluntary("name"), essential("gender")}, false},
		{"a voluntary claim not consented to is simply not released", []string{"openid", "profile"}, []claims.Item{voluntary("gender")}, true},
		{"claim names are compared exactly", []string{"openid"}, []claims.Item{essential("Name")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := given.Covers(tt.scopes, tt.items); got != tt.want {
				t.Errorf("Covers = %v, want %v", got, tt.want)
			}
		})
	}
	if (consent.Consent{}).Covers([]string{"openid"}, nil) {
		t.Error("an empty consent covers openid")
	}
}
