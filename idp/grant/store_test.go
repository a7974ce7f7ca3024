package grant_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"eidp/idp/grant"
	"eidp/internal/db"
	"eidp/internal/testenv"
)

const (
	codeTTL    = time.Minute
	refreshTTL = 24 * time.Hour
	grantTTL   = 30 * 24 * time.Hour
)

var start = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// fixture is a store on a test clock with its own resident and two clients
// (so that tests sharing one database do not see each other's rows).
type fixture struct {
	db       *db.DB
	store    *grant.Store
	clock    *testenv.Clock
	resident string
	client   string // the client the tests act as
	other    string // another client
}

func newFixture(t *testing.T, d *db.DB) *fixture {
	t.Helper()
	f := &fixture{
		db:       d,
		store:    grant.NewStore(d),
		clock:    testenv.NewClock(start),
		resident: "res-" + randomID(),
		client:   "rp-" + randomID(),
		other:    "other-" + randomID(),
	}
	grant.SetNow(f.store, f.clock.Now)
	ctx := testCtx(t)
	now := db.Timestamp{Time: start}
	if _, err := d.ExecContext(ctx, `INSERT INTO residents
		(id, id_number, surname, given_names, birth_date, gender, assurance_level, status, created_at, updated_at)
		VALUES ($1, $2, 'CHAN', 'Tai Man', '1990-01-01', 'M', 'high', 'active', $3, $3)`,
		f.resident, "A"+randomID(), now); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{f.client, f.other} {
		if _, err := d.ExecContext(ctx, `INSERT INTO oauth_clients
			(id, token_endpoint_auth_method, client_secret_hash, metadata, created_at, updated_at)
			VALUES ($1, 'none', NULL, '{}', $2, $2)`, id, now); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func randomID() string {
	b := make([]byte, 9)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// newGrant returns a grant for f's resident and client from a new session.
func (f *fixture) newGrant() grant.Grant {
	return grant.Grant{
		ClientID:   f.client,
		ResidentID: f.resident,
		SessionID:  "sess-" + randomID(),
		Scope:      "openid profile",
		Claims:     json.RawMessage(`{"id_token":{"acr":{"essential":true}}}`),
		AuthTime:   f.clock.Now().Add(-time.Minute),
		ACR:        "urn:eidp:acr:substantial",
		AMR:        []string{"hwk", "user", "pop"},
		ExpiresAt:  f.clock.Now().Add(grantTTL),
	}
}

// issue creates g with a code and returns both.
func (f *fixture) issue(t *testing.T, g grant.Grant) (string, grant.Grant) {
	t.Helper()
	code, issued, err := f.store.IssueCode(testCtx(t), g, json.RawMessage(`{"nonce":"n-0S6"}`), codeTTL)
	if err != nil {
		t.Fatal(err)
	}
	return code, issued
}

// redeemed returns a grant whose code was redeemed, and a refresh token for it.
func (f *fixture) redeemed(t *testing.T) (grant.Grant, string) {
	t.Helper()
	ctx := testCtx(t)
	code, _ := f.issue(t, f.newGrant())
	g, _, err := f.store.RedeemCode(ctx, code, f.client)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := f.store.IssueRefresh(ctx, g.ID, refreshTTL)
	if err != nil {
		t.Fatal(err)
	}
	return g, rt
}

func count(t *testing.T, d *db.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := d.QueryRowContext(testCtx(t), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// requireSecret fails unless v is 32 random bytes in base64url without padding.
func requireSecret(t *testing.T, what, v string) {
	t.Helper()
	if raw, err := base64.RawURLEncoding.DecodeString(v); err != nil || len(raw) != 32 || len(v) != 43 {
		t.Fatalf("%s %q is not 32 bytes in base64url without padding", what, v)
	}
}

func hashHex(v string) string {
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:])
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

func wantRevoked(t *testing.T, f *fixture, id, reason string) {
	t.Helper()
	g, err := f.store.Get(testCtx(t), id)
	if err != nil {
		t.Fatal(err)
	}
	if g.RevokedAt.IsZero() || g.RevokedReason != reason {
		t.Fatalf("grant revoked at %v for %q, want revoked for %q", g.RevokedAt, g.RevokedReason, reason)
	}
	_, err = f.store.Active(testCtx(t), id)
	wantErr(t, "Active of a revoked grant", err, grant.ErrRevoked)
}

func wantActive(t *testing.T, f *fixture, id string) {
	t.Helper()
	g, err := f.store.Active(testCtx(t), id)
	if err != nil {
		t.Fatalf("grant not active: %v", err)
	}
	if !g.RevokedAt.IsZero() || g.RevokedReason != "" {
		t.Fatalf("active grant has revocation %v %q", g.RevokedAt, g.RevokedReason)
	}
}

func TestRequests(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := testCtx(t)
		params := json.RawMessage(`{"redirect_uri":"https://rp.example/cb","scope":"openid"}`)

		t.Run("a pushed request is single-use and bound to its client", func(t *testing.T) {
			f := newFixture(t, d)
			r, err := f.store.SaveRequest(ctx, grant.KindPushed, f.client, params, 90*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			requireSecret(t, "request ID", r.ID)
			if r.Kind != grant.KindPushed || r.ClientID != f.client || string(r.Params) != string(params) ||
				!r.CreatedAt.Equal(start) || !r.ExpiresAt.Equal(start.Add(90*time.Second)) {
				t.Fatalf("saved %+v", r)
			}
			if n := count(t, d, `SELECT COUNT(*) FROM oidc_authz_requests WHERE id = $1`, r.ID); n != 1 {
				t.Fatalf("request ID not stored as is (%d rows)", n)
			}
			_, err = f.store.UsePushed(ctx, r.ID, f.other)
			wantErr(t, "another client's request", err, grant.ErrNotFound)
			_, err = f.store.GetRequest(ctx, r.ID)
			wantErr(t, "GetRequest of a pushed request", err, grant.ErrNotFound)
			err = f.store.UpdateRequest(ctx, r.ID, json.RawMessage(`{}`))
			wantErr(t, "UpdateRequest of a pushed request", err, grant.ErrNotFound)

			f.clock.Advance(89 * time.Second)
			got, err := f.store.UsePushed(ctx, r.ID, f.client)
			if err != nil {
				t.Fatalf("first use, after another client's try: %v", err)
			}
			if !reflect.DeepEqual(got, r) {
				t.Fatalf("UsePushed returned\n%+v\nwant\n%+v", got, r)
			}
			_, err = f.store.UsePushed(ctx, r.ID, f.client)
			wantErr(t, "second use", err, grant.ErrUsed)
		})

		t.Run("a pushed request expires", func(t *testing.T) {
			f := newFixture(t, d)
			r, err := f.store.SaveRequest(ctx, grant.KindPushed, f.client, params, 90*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(90 * time.Second)
			_, err = f.store.UsePushed(ctx, r.ID, f.client)
			wantErr(t, "expired", err, grant.ErrExpired)
		})

		t.Run("UsePushed does not find unknown or interactive requests", func(t *testing.T) {
			f := newFixture(t, d)
			r, err := f.store.SaveRequest(ctx, grant.KindInteractive, f.client, params, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.store.UsePushed(ctx, r.ID, f.client)
			wantErr(t, "interactive request", err, grant.ErrNotFound)
			_, err = f.store.UsePushed(ctx, "no-such-request", f.client)
			wantErr(t, "unknown request", err, grant.ErrNotFound)
			_, err = f.store.UsePushed(ctx, strings.Repeat("x", 10000), f.client)
			wantErr(t, "huge request ID", err, grant.ErrNotFound)
		})

		t.Run("an interactive request carries state until it expires", func(t *testing.T) {
			f := newFixture(t, d)
			r, err := f.store.SaveRequest(ctx, grant.KindInteractive, f.client, params, 10*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			got, err := f.store.GetRequest(ctx, r.ID)
			if err != nil || !reflect.DeepEqual(got, r) {
				t.Fatalf("GetRequest = %+v, %v; want %+v", got, err, r)
			}
			step2 := json.RawMessage(`{"redirect_uri":"https://rp.example/cb","step":"consent"}`)
			if err := f.store.UpdateRequest(ctx, r.ID, step2); err != nil {
				t.Fatal(err)
			}
			err = f.store.UpdateRequest(ctx, r.ID, json.RawMessage(`{"step":`))
			if err == nil || errors.Is(err, grant.ErrNotFound) {
				t.Fatalf("invalid JSON: got %v, want a clear error", err)
			}
			got, err = f.store.GetRequest(ctx, r.ID)
			if err != nil || string(got.Params) != string(step2) || !got.ExpiresAt.Equal(r.ExpiresAt) {
				t.Fatalf("after update: %+v, %v", got, err)
			}

			f.clock.Advance(10 * time.Minute)
			_, err = f.store.GetRequest(ctx, r.ID)
			wantErr(t, "GetRequest after expiry", err, grant.ErrExpired)
			err = f.store.UpdateRequest(ctx, r.ID, params)
			wantErr(t, "UpdateRequest after expiry", err, grant.ErrExpired)
			err = f.store.UpdateRequest(ctx, "no-such-request", params)
			wantErr(t, "UpdateRequest of an unknown request", err, grant.ErrNotFound)
		})

		t.Run("DeleteRequest deletes and is idempotent", func(t *testing.T) {
			f := newFixture(t, d)
			r, err := f.store.SaveRequest(ctx, grant.KindInteractive, f.client, params, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if err := f.store.DeleteRequest(ctx, r.ID); err != nil {
					t.Fatal(err)
				}
			}
			_, err = f.store.GetRequest(ctx, r.ID)
			wantErr(t, "GetRequest after delete", err, grant.ErrNotFound)
		})

		t.Run("bad requests are refused and store nothing", func(t *testing.T) {
			f := newFixture(t, d)
			for _, tc := range []struct {
				name, kind, client string
				params             json.RawMessage
				ttl                time.Duration
			}{
				{"an unknown kind", "stored", f.client, params, time.Hour},
				{"no client", grant.KindPushed, "", params, time.Hour},
				{"an unregistered client", grant.KindPushed, "no-such-client", params, time.Hour},
				{"params that are not JSON", grant.KindPushed, f.client, json.RawMessage(`{"a":`), time.Hour},
				{"params over 64 KiB", grant.KindPushed, f.client, json.RawMessage(`"` + strings.Repeat("a", 64<<10) + `"`), time.Hour},
				{"no lifetime", grant.KindPushed, f.client, params, 0},
			} {
				if _, err := f.store.SaveRequest(ctx, tc.kind, tc.client, tc.params, tc.ttl); err == nil {
					t.Errorf("%s: saved", tc.name)
				}
			}
			if n := count(t, d, `SELECT COUNT(*) FROM oidc_authz_requests WHERE client_id IN ($1, $2)`, f.client, "no-such-client"); n != 0 {
				t.Fatalf("%d requests stored", n)
			}
		})
	})
}

func TestCodes(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := testCtx(t)

		t.Run("IssueCode stores the grant and only the code's hash", func(t *testing.T) {
			f := newFixture(t, d)
			in := f.newGrant()
			in.ID, in.RevokedReason = "chosen-by-caller", "ignored"
			code, g, err := f.store.IssueCode(ctx, in, json.RawMessage(`{"nonce":"n-0S6"}`), codeTTL)
			if err != nil {
				t.Fatal(err)
			}
			requireSecret(t, "code", code)
			if g.ID == "" || g.ID == in.ID || !g.CreatedAt.Equal(start) || g.RevokedReason != "" ||
				!g.ExpiresAt.Equal(in.ExpiresAt) || !g.AuthTime.Equal(in.AuthTime) {
				t.Fatalf("issued %+v", g)
			}
			got, err := f.store.Get(ctx, g.ID)
			if err != nil || !reflect.DeepEqual(got, g) {
				t.Fatalf("Get = %+v, %v\nwant %+v", got, err, g)
			}
			if n := count(t, d, `SELECT COUNT(*) FROM oidc_codes WHERE code_hash = $1 AND grant_id = $2`, hashHex(code), g.ID); n != 1 {
				t.Fatal("the code's SHA-256 is not stored")
			}
			if n := count(t, d, `SELECT COUNT(*) FROM oidc_codes WHERE code_hash = $1 OR params LIKE $2`, code, "%"+code+"%"); n != 0 {
				t.Fatal("the code itself is in the database")
			}
		})

		t.Run("a code redeems once for its client, with its params", func(t *testing.T) {
			f := newFixture(t, d)
			code, issued := f.issue(t, f.newGrant())
			_, _, err := f.store.RedeemCode(ctx, code, f.other)
			wantErr(t, "another client's code", err, grant.ErrNotFound)
			wantActive(t, f, issued.ID)

			g, params, err := f.store.RedeemCode(ctx, code, f.client)
			if err != nil {
				t.Fatalf("redeem after another client's try: %v", err)
			}
			if !reflect.DeepEqual(g, issued) || string(params) != `{"nonce":"n-0S6"}` {
				t.Fatalf("redeemed %+v %s\nwant %+v", g, params, issued)
			}
		})

		t.Run("a code used twice revokes its grant and the grant's refresh tokens", func(t *testing.T) {
			f := newFixture(t, d)
			code, issued := f.issue(t, f.newGrant())
			if _, _, err := f.store.RedeemCode(ctx, code, f.client); err != nil {
				t.Fatal(err)
			}
			rt, err := f.store.IssueRefresh(ctx, issued.ID, refreshTTL)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = f.store.RedeemCode(ctx, code, f.client)
			wantErr(t, "second use", err, grant.ErrUsed)
			wantRevoked(t, f, issued.ID, grant.ReasonCodeReuse)
			_, _, err = f.store.UseRefresh(ctx, rt, f.client, false, 0)
			wantErr(t, "refresh token of a grant revoked for code reuse", err, grant.ErrRevoked)
			_, _, err = f.store.RedeemCode(ctx, code, f.client)
			wantErr(t, "third use", err, grant.ErrUsed)
			wantRevoked(t, f, issued.ID, grant.ReasonCodeReuse)
		})

		t.Run("another client presenting a used code changes nothing", func(t *testing.T) {
			f := newFixture(t, d)
			code, issued := f.issue(t, f.newGrant())
			if _, _, err := f.store.RedeemCode(ctx, code, f.client); err != nil {
				t.Fatal(err)
			}
			_, _, err := f.store.RedeemCode(ctx, code, f.other)
			wantErr(t, "another client's used code", err, grant.ErrNotFound)
			wantActive(t, f, issued.ID)
		})

		t.Run("a code expires after its lifetime", func(t *testing.T) {
			f := newFixture(t, d)
			code, issued := f.issue(t, f.newGrant())
			f.clock.Advance(codeTTL)
			_, _, err := f.store.RedeemCode(ctx, code, f.client)
			wantErr(t, "expired code", err, grant.ErrExpired)
			wantActive(t, f, issued.ID)
		})

		t.Run("a code expires with its grant if that is sooner", func(t *testing.T) {
			f := newFixture(t, d)
			g := f.newGrant()
			g.ExpiresAt = start.Add(10 * time.Second)
			code, _ := f.issue(t, g)
			f.clock.Advance(10 * time.Second)
			_, _, err := f.store.RedeemCode(ctx, code, f.client)
			wantErr(t, "code of an expired grant", err, grant.ErrExpired)
		})

		t.Run("a code of a revoked grant is refused", func(t *testing.T) {
			f := newFixture(t, d)
			code, issued := f.issue(t, f.newGrant())
			if err := f.store.Revoke(ctx, issued.ID, "session_ended"); err != nil {
				t.Fatal(err)
			}
			_, _, err := f.store.RedeemCode(ctx, code, f.client)
			wantErr(t, "code of a revoked grant", err, grant.ErrRevoked)
			wantRevoked(t, f, issued.ID, "session_ended")
		})

		t.Run("unknown codes are not found", func(t *testing.T) {
			f := newFixture(t, d)
			for _, code := range []string{"", "no-such-code", strings.Repeat("c", 10000)} {
				_, _, err := f.store.RedeemCode(ctx, code, f.client)
				wantErr(t, "unknown code", err, grant.ErrNotFound)
			}
		})

		t.Run("bad grants are refused and store nothing", func(t *testing.T) {
			f := newFixture(t, d)
			for _, tc := range []struct {
				name    string
				change  func(g *grant.Grant)
				codeTTL time.Duration
				params  json.RawMessage
			}{
				{"no client", func(g *grant.Grant) { g.ClientID = "" }, codeTTL, nil},
				{"an unregistered client", func(g *grant.Grant) { g.ClientID = "no-such-client" }, codeTTL, nil},
				{"no resident", func(g *grant.Grant) { g.ResidentID = "" }, codeTTL, nil},
				{"an unknown resident", func(g *grant.Grant) { g.ResidentID = "no-such-resident" }, codeTTL, nil},
				{"no session", func(g *grant.Grant) { g.SessionID = "" }, codeTTL, nil},
				{"no auth time", func(g *grant.Grant) { g.AuthTime = time.Time{} }, codeTTL, nil},
				{"an expiry not in the future", func(g *grant.Grant) { g.ExpiresAt = start }, codeTTL, nil},
				{"claims that are not JSON", func(g *grant.Grant) { g.Claims = json.RawMessage(`{`) }, codeTTL, nil},
				{"an empty amr value", func(g *grant.Grant) { g.AMR = []string{"hwk", ""} }, codeTTL, nil},
				{"no code lifetime", func(g *grant.Grant) {}, 0, nil},
				{"params that are not JSON", func(g *grant.Grant) {}, codeTTL, json.RawMessage(`nonce`)},
			} {
				g := f.newGrant()
				tc.change(&g)
				if _, _, err := f.store.IssueCode(ctx, g, tc.params, tc.codeTTL); err == nil {
					t.Errorf("%s: issued", tc.name)
				}
			}
			if n := count(t, d, `SELECT COUNT(*) FROM oidc_grants WHERE client_id IN ($1, $2) OR resident_id IN ($3, $4)`,
				f.client, "no-such-client", f.resident, "no-such-resident"); n != 0 {
				t.Fatalf("%d grants stored", n)
			}
		})

		t.Run("empty claims, params and amr are stored as empty JSON", func(t *testing.T) {
			f := newFixture(t, d)
			g := f.newGrant()
			g.Claims, g.AMR = nil, []string{}
			code, _, err := f.store.IssueCode(ctx, g, nil, codeTTL)
			if err != nil {
				t.Fatal(err)
			}
			got, params, err := f.store.RedeemCode(ctx, code, f.client)
			if err != nil {
				t.Fatal(err)
			}
			if string(got.Claims) != "{}" || got.AMR != nil || string(params) != "{}" {
				t.Fatalf("claims %s, amr %#v, params %s", got.Claims, got.AMR, params)
			}
		})

		t.Run("8 concurrent redemptions of one code: exactly one succeeds", func(t *testing.T) {
			f := newFixture(t, d)
			code, issued := f.issue(t, f.newGrant())
			const n = 8
			var (
				wg   sync.WaitGroup
				errs = make([]error, n)
				gate = make(chan struct{})
			)
			for i := range n {
				wg.Go(func() {
					<-gate
					_, _, errs[i] = f.store.RedeemCode(ctx, code, f.client)
				})
			}
			close(gate)
			wg.Wait()
			ok := 0
			for _, err := range errs {
				switch {
				case err == nil:
					ok++
				case !errors.Is(err, grant.ErrUsed):
					t.Errorf("unexpected error: %v", err)
				}
			}
			if ok != 1 {
				t.Fatalf("%d redemptions succeeded, want exactly 1", ok)
			}
			// The others were reuse: the grant is revoked.
			wantRevoked(t, f, issued.ID, grant.ReasonCodeReuse)
		})
	})
}

func TestGrants(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := testCtx(t)

		t.Run("Get and Active tell unknown, revoked and expired grants apart", func(t *testing.T) {
			f := newFixture(t, d)
			_, err := f.store.Get(ctx, "no-such-grant")
			wantErr(t, "Get of an unknown grant", err, grant.ErrNotFound)
			_, err = f.store.Active(ctx, "no-such-grant")
			wantErr(t, "Active of an unknown grant", err, grant.ErrNotFound)

			g := f.newGrant()
			g.ExpiresAt = start.Add(time.Hour)
			_, issued := f.issue(t, g)
			wantActive(t, f, issued.ID)
			f.clock.Advance(time.Hour)
			_, err = f.store.Active(ctx, issued.ID)
			wantErr(t, "Active of an expired grant", err, grant.ErrExpired)
			if got, err := f.store.Get(ctx, issued.ID); err != nil || got.ID != issued.ID {
				t.Fatalf("Get of an expired grant: %v", err)
			}
		})

		t.Run("Revoke keeps the first reason and is idempotent", func(t *testing.T) {
			f := newFixture(t, d)
			_, g := f.issue(t, f.newGrant())
			if err := f.store.Revoke(ctx, g.ID, "consent_withdrawn"); err != nil {
				t.Fatal(err)
			}
			first, _ := f.store.Get(ctx, g.ID)
			f.clock.Advance(time.Minute)
			if err := f.store.Revoke(ctx, g.ID, "resident_request"); err != nil {
				t.Fatalf("second revoke: %v", err)
			}
			again, _ := f.store.Get(ctx, g.ID)
			if !reflect.DeepEqual(first, again) || !again.RevokedAt.Equal(start) {
				t.Fatalf("second revoke changed %+v to %+v", first, again)
			}
			wantRevoked(t, f, g.ID, "consent_withdrawn")
			wantErr(t, "Revoke of an unknown grant", f.store.Revoke(ctx, "no-such-grant", "x"), grant.ErrNotFound)
			if err := f.store.Revoke(ctx, g.ID, ""); err == nil {
				t.Fatal("revoked without a reason")
			}
		})

		t.Run("RevokeForClient revokes only that resident's grants to that client", func(t *testing.T) {
			f := newFixture(t, d)
			_, a := f.issue(t, f.newGrant())
			_, b := f.issue(t, f.newGrant())
			otherGrant := f.newGrant()
			otherGrant.ClientID = f.other
			_, c := f.issue(t, otherGrant)
			g2 := newFixture(t, d) // another resident of another client pair
			_, foreign := g2.issue(t, g2.newGrant())
			if err := f.store.Revoke(ctx, b.ID, "earlier"); err != nil {
				t.Fatal(err)
			}
			n, err := f.store.RevokeForClient(ctx, f.resident, f.client, "consent_withdrawn")
			if err != nil || n != 1 {
				t.Fatalf("RevokeForClient = %d, %v; want 1", n, err)
			}
			wantRevoked(t, f, a.ID, "consent_withdrawn")
			wantRevoked(t, f, b.ID, "earlier")
			wantActive(t, f, c.ID)
			wantActive(t, g2, foreign.ID)
		})

		t.Run("RevokeForSession returns only the grants it revoked now", func(t *testing.T) {
			f := newFixture(t, d)
			sess := "sess-" + randomID()
			var ids []string
			for _, client := range []string{f.client, f.other, f.client} {
				g := f.newGrant()
				g.SessionID, g.ClientID = sess, client
				_, issued := f.issue(t, g)
				ids = append(ids, issued.ID)
				f.clock.Advance(time.Second)
			}
			_, elsewhere := f.issue(t, f.newGrant()) // another session
			if err := f.store.Revoke(ctx, ids[1], "earlier"); err != nil {
				t.Fatal(err)
			}
			got, err := f.store.RevokeForSession(ctx, sess, "session_ended")
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || got[0].ID != ids[0] || got[1].ID != ids[2] {
				t.Fatalf("revoked %+v, want grants %s and %s", got, ids[0], ids[2])
			}
			for _, g := range got {
				if g.RevokedReason != "session_ended" || !g.RevokedAt.Equal(f.clock.Now()) || g.SessionID != sess {
					t.Fatalf("returned grant %+v", g)
				}
			}
			wantRevoked(t, f, ids[1], "earlier")
			wantActive(t, f, elsewhere.ID)
			again, err := f.store.RevokeForSession(ctx, sess, "session_ended")
			if err != nil || len(again) != 0 {
				t.Fatalf("second RevokeForSession = %+v, %v; want none", again, err)
			}
		})

		t.Run("ListActive lists live grants newest first", func(t *testing.T) {
			f := newFixture(t, d)
			short := f.newGrant()
			short.ExpiresAt = start.Add(time.Hour)
			_, expiring := f.issue(t, short)
			f.clock.Advance(time.Second)
			_, older := f.issue(t, f.newGrant())
			f.clock.Advance(time.Second)
			_, revoked := f.issue(t, f.newGrant())
			f.clock.Advance(time.Second)
			_, newer := f.issue(t, f.newGrant())
			if err := f.store.Revoke(ctx, revoked.ID, "x"); err != nil {
				t.Fatal(err)
			}
			list, err := f.store.ListActive(ctx, f.resident)
			if err != nil || len(list) != 3 || list[0].ID != newer.ID || list[1].ID != older.ID || list[2].ID != expiring.ID {
				t.Fatalf("ListActive = %+v, %v", list, err)
			}
			f.clock.Advance(time.Hour)
			list, err = f.store.ListActive(ctx, f.resident)
			if err != nil || len(list) != 2 || !reflect.DeepEqual(list[0], newer) {
				t.Fatalf("after expiry: %+v, %v", list, err)
			}
			if list, err := f.store.ListActive(ctx, "no-such-resident"); err != nil || len(list) != 0 {
				t.Fatalf("unknown resident: %+v, %v", list, err)
			}
		})
	})
}

func TestRefreshTokens(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := testCtx(t)

		t.Run("IssueRefresh stores only the hash and caps the lifetime at the grant's", func(t *testing.T) {
			f := newFixture(t, d)
			g, rt := f.redeemed(t)
			requireSecret(t, "refresh token", rt)
			if n := count(t, d, `SELECT COUNT(*) FROM oidc_refresh_tokens WHERE token_hash = $1 AND grant_id = $2`, hashHex(rt), g.ID); n != 1 {
				t.Fatal("the token's SHA-256 is not stored")
			}
			if n := count(t, d, `SELECT COUNT(*) FROM oidc_refresh_tokens WHERE token_hash = $1`, rt); n != 0 {
				t.Fatal("the token itself is in the database")
			}
			_, exp, err := f.store.LookupRefresh(ctx, rt)
			if err != nil || !exp.Equal(start.Add(refreshTTL)) {
				t.Fatalf("LookupRefresh expiry %v, %v", exp, err)
			}
			long, err := f.store.IssueRefresh(ctx, g.ID, 10*grantTTL)
			if err != nil {
				t.Fatal(err)
			}
			if _, exp, err := f.store.LookupRefresh(ctx, long); err != nil || !exp.Equal(g.ExpiresAt) {
				t.Fatalf("lifetime not capped: expiry %v, %v; grant expires %v", exp, err, g.ExpiresAt)
			}
		})

		t.Run("IssueRefresh refuses grants that are not active", func(t *testing.T) {
			f := newFixture(t, d)
			_, err := f.store.IssueRefresh(ctx, "no-such-grant", refreshTTL)
			wantErr(t, "unknown grant", err, grant.ErrNotFound)
			g, _ := f.redeemed(t)
			if err := f.store.Revoke(ctx, g.ID, "x"); err != nil {
				t.Fatal(err)
			}
			_, err = f.store.IssueRefresh(ctx, g.ID, refreshTTL)
			wantErr(t, "revoked grant", err, grant.ErrRevoked)
			short := f.newGrant()
			short.ExpiresAt = start.Add(time.Hour)
			_, expiring := f.issue(t, short)
			f.clock.Advance(time.Hour)
			_, err = f.store.IssueRefresh(ctx, expiring.ID, refreshTTL)
			wantErr(t, "expired grant", err, grant.ErrExpired)
			if n := count(t, d, `SELECT COUNT(*) FROM oidc_refresh_tokens WHERE grant_id IN ($1, $2)`, g.ID, expiring.ID); n != 1 {
				t.Fatalf("%d refresh tokens, want only the one from before", n)
			}
		})

		t.Run("rotation issues a new token, and reuse of the old one revokes the grant", func(t *testing.T) {
			f := newFixture(t, d)
			g, rt := f.redeemed(t)
			f.clock.Advance(time.Hour)
			got, next, err := f.store.UseRefresh(ctx, rt, f.client, true, refreshTTL)
			if err != nil {
				t.Fatal(err)
			}
			requireSecret(t, "rotated refresh token", next)
			if !reflect.DeepEqual(got, g) || next == rt {
				t.Fatalf("UseRefresh = %+v, new token equal to old: %v", got, next == rt)
			}
			_, _, err = f.store.LookupRefresh(ctx, rt)
			wantErr(t, "LookupRefresh of a rotated token", err, grant.ErrUsed)
			wantActive(t, f, g.ID) // looking up changes nothing
			if _, exp, err := f.store.LookupRefresh(ctx, next); err != nil || !exp.Equal(start.Add(time.Hour+refreshTTL)) {
				t.Fatalf("new token: expiry %v, %v", exp, err)
			}
			f.clock.Advance(time.Hour)
			_, third, err := f.store.UseRefresh(ctx, next, f.client, true, refreshTTL)
			if err != nil {
				t.Fatal(err)
			}

			_, _, err = f.store.UseRefresh(ctx, rt, f.client, true, refreshTTL)
			wantErr(t, "reuse of a rotated token", err, grant.ErrUsed)
			wantRevoked(t, f, g.ID, grant.ReasonRefreshReuse)
			_, _, err = f.store.UseRefresh(ctx, third, f.client, true, refreshTTL)
			wantErr(t, "the latest token after reuse", err, grant.ErrRevoked)
		})

		t.Run("reuse is detected without rotate too", func(t *testing.T) {
			f := newFixture(t, d)
			g, rt := f.redeemed(t)
			if _, _, err := f.store.UseRefresh(ctx, rt, f.client, true, refreshTTL); err != nil {
				t.Fatal(err)
			}
			_, _, err := f.store.UseRefresh(ctx, rt, f.client, false, 0)
			wantErr(t, "reuse", err, grant.ErrUsed)
			wantRevoked(t, f, g.ID, grant.ReasonRefreshReuse)
		})

		t.Run("without rotation the token stays valid", func(t *testing.T) {
			f := newFixture(t, d)
			g, rt := f.redeemed(t)
			for range 3 {
				got, next, err := f.store.UseRefresh(ctx, rt, f.client, false, 0)
				if err != nil || next != "" || got.ID != g.ID {
					t.Fatalf("UseRefresh = %v, %q, %v", got.ID, next, err)
				}
				f.clock.Advance(time.Hour)
			}
			if n := count(t, d, `SELECT COUNT(*) FROM oidc_refresh_tokens WHERE grant_id = $1 AND used_at IS NULL`, g.ID); n != 1 {
				t.Fatalf("%d unused tokens, want the one", n)
			}
		})

		t.Run("another client's refresh token is not found and nothing changes", func(t *testing.T) {
			f := newFixture(t, d)
			g, rt := f.redeemed(t)
			for _, rotate := range []bool{true, false} {
				_, _, err := f.store.UseRefresh(ctx, rt, f.other, rotate, refreshTTL)
				wantErr(t, "another client's token", err, grant.ErrNotFound)
			}
			if _, _, err := f.store.UseRefresh(ctx, rt, f.client, true, refreshTTL); err != nil {
				t.Fatalf("the owner's use after another client's: %v", err)
			}
			// A rotated token presented by another client is not reuse.
			_, _, err := f.store.UseRefresh(ctx, rt, f.other, true, refreshTTL)
			wantErr(t, "another client's rotated token", err, grant.ErrNotFound)
			wantActive(t, f, g.ID)
		})

		t.Run("a refresh token expires, and so does its grant", func(t *testing.T) {
			f := newFixture(t, d)
			g, rt := f.redeemed(t)
			f.clock.Advance(refreshTTL)
			_, _, err := f.store.UseRefresh(ctx, rt, f.client, true, refreshTTL)
			wantErr(t, "expired token", err, grant.ErrExpired)
			_, _, err = f.store.LookupRefresh(ctx, rt)
			wantErr(t, "LookupRefresh of an expired token", err, grant.ErrExpired)
			wantActive(t, f, g.ID)

			short := f.newGrant()
			short.ExpiresAt = f.clock.Now().Add(time.Hour)
			code, _ := f.issue(t, short)
			sg, _, err := f.store.RedeemCode(ctx, code, f.client)
			if err != nil {
				t.Fatal(err)
			}
			srt, err := f.store.IssueRefresh(ctx, sg.ID, refreshTTL)
			if err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(time.Hour)
			_, _, err = f.store.UseRefresh(ctx, srt, f.client, false, 0)
			wantErr(t, "token of an expired grant", err, grant.ErrExpired)
		})

		t.Run("unknown refresh tokens are not found", func(t *testing.T) {
			f := newFixture(t, d)
			for _, tok := range []string{"", "no-such-token", strings.Repeat("t", 10000)} {
				_, _, err := f.store.UseRefresh(ctx, tok, f.client, true, refreshTTL)
				wantErr(t, "UseRefresh", err, grant.ErrNotFound)
				_, _, err = f.store.LookupRefresh(ctx, tok)
				wantErr(t, "LookupRefresh", err, grant.ErrNotFound)
			}
		})

		t.Run("LookupRefresh returns the grant and the token's expiry", func(t *testing.T) {
			f := newFixture(t, d)
			g, rt := f.redeemed(t)
			got, exp, err := f.store.LookupRefresh(ctx, rt)
			if err != nil || !reflect.DeepEqual(got, g) || !exp.Equal(start.Add(refreshTTL)) {
				t.Fatalf("LookupRefresh = %+v, %v, %v", got, exp, err)
			}
			if err := f.store.Revoke(ctx, g.ID, "x"); err != nil {
				t.Fatal(err)
			}
			_, _, err = f.store.LookupRefresh(ctx, rt)
			wantErr(t, "LookupRefresh of a revoked grant's token", err, grant.ErrRevoked)
		})

		t.Run("RevokeRefresh revokes the grant of its own client's token only", func(t *testing.T) {
			f := newFixture(t, d)
			g, rt := f.redeemed(t)
			for _, tc := range []struct{ name, token, client string }{
				{"another client's token", rt, f.other},
				{"an unknown token", "no-such-token", f.client},
				{"a huge token", strings.Repeat("t", 10000), f.client},
			} {
				if ok, err := f.store.RevokeRefresh(ctx, tc.token, tc.client); ok || err != nil {
					t.Fatalf("%s: RevokeRefresh = %v, %v; want false, nil", tc.name, ok, err)
				}
			}
			wantActive(t, f, g.ID)
			if ok, err := f.store.RevokeRefresh(ctx, rt, f.client); !ok || err != nil {
				t.Fatalf("RevokeRefresh = %v, %v", ok, err)
			}
			wantRevoked(t, f, g.ID, grant.ReasonRevokedByClient)
			_, _, err := f.store.UseRefresh(ctx, rt, f.client, false, 0)
			wantErr(t, "revoked token", err, grant.ErrRevoked)
			if ok, err := f.store.RevokeRefresh(ctx, rt, f.client); !ok || err != nil {
				t.Fatalf("second RevokeRefresh = %v, %v", ok, err)
			}
			wantRevoked(t, f, g.ID, grant.ReasonRevokedByClient)
		})
	})
}

func TestAccessTokens(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := testCtx(t)
		f := newFixture(t, d)
		jti := "grant-" + randomID() + ".at1"
		if revoked, err := f.store.AccessTokenRevoked(ctx, jti); revoked || err != nil {
			t.Fatalf("before revocation: %v, %v", revoked, err)
		}
		for range 2 {
			if err := f.store.RevokeAccessToken(ctx, jti, start.Add(5*time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
		if revoked, err := f.store.AccessTokenRevoked(ctx, jti); !revoked || err != nil {
			t.Fatalf("after revocation: %v, %v", revoked, err)
		}
		if revoked, err := f.store.AccessTokenRevoked(ctx, jti+"x"); revoked || err != nil {
			t.Fatalf("another jti: %v, %v", revoked, err)
		}
		if err := f.store.RevokeAccessToken(ctx, "", start); err == nil {
			t.Fatal("revoked an empty jti")
		}
	})
}

func TestSweep(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := testCtx(t)
		f := newFixture(t, d)
		s := f.store
		params := json.RawMessage(`{}`)

		// Expire within the hour: two requests, a code, a refresh token, a
		// revoked access token, and a grant (with its own code and refresh
		// token, which expire with it).
		if _, err := s.SaveRequest(ctx, grant.KindPushed, f.client, params, time.Minute); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SaveRequest(ctx, grant.KindInteractive, f.client, params, time.Hour); err != nil {
			t.Fatal(err)
		}
		longGrant, rt := f.redeemed(t) // its code is used and expires in a minute; rt in a day
		shortRT, err := s.IssueRefresh(ctx, longGrant.ID, 30*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeAccessToken(ctx, "old-jti", start.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		short := f.newGrant()
		short.ExpiresAt = start.Add(time.Hour)
		shortCode, shortGrant := f.issue(t, short) // code capped at one minute
		if _, err := s.IssueRefresh(ctx, shortGrant.ID, refreshTTL); err != nil {
			t.Fatal(err)
		}

		// Live past the sweep: a request, a code, the first refresh token, a
		// revoked access token, the long grant.
		f.clock.Advance(time.Hour)
		live, err := s.SaveRequest(ctx, grant.KindInteractive, f.client, params, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		liveCode, _ := f.issue(t, f.newGrant())
		if err := s.RevokeAccessToken(ctx, "new-jti", f.clock.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}

		// An hour after the short grant expired: its row stays a day.
		n, err := s.Sweep(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// 2 requests + 2 codes (long grant's used one, short grant's) +
		// 2 refresh tokens (30-minute one, short grant's) + 1 revoked jti.
		if n != 7 {
			t.Fatalf("Sweep removed %d rows, want 7", n)
		}
		if _, err := s.Get(ctx, shortGrant.ID); err != nil {
			t.Fatalf("grant expired an hour ago was swept: %v", err)
		}
		_, _, err = s.RedeemCode(ctx, shortCode, f.client)
		wantErr(t, "swept code", err, grant.ErrNotFound)
		_, _, err = s.LookupRefresh(ctx, shortRT)
		wantErr(t, "swept refresh token", err, grant.ErrNotFound)
		if revoked, _ := s.AccessTokenRevoked(ctx, "old-jti"); revoked {
			t.Fatal("expired jti kept")
		}

		// What has not expired is untouched.
		if _, err := s.GetRequest(ctx, live.ID); err != nil {
			t.Fatalf("live request swept: %v", err)
		}
		if revoked, _ := s.AccessTokenRevoked(ctx, "new-jti"); !revoked {
			t.Fatal("live jti swept")
		}
		if _, _, err := s.UseRefresh(ctx, rt, f.client, false, 0); err != nil {
			t.Fatalf("live refresh token swept: %v", err)
		}
		if _, _, err := s.RedeemCode(ctx, liveCode, f.client); err != nil {
			t.Fatalf("live code swept: %v", err)
		}
		wantActive(t, f, longGrant.ID)

		// Just under a day after the short grant expired, it stays; what
		// else expired by then goes: the live request, the live code, rt and
		// new-jti.
		f.clock.Advance(24*time.Hour - time.Microsecond)
		if n, err := s.Sweep(ctx); err != nil || n != 4 {
			t.Fatalf("second Sweep = %d, %v; want 4", n, err)
		}
		if _, err := s.Get(ctx, shortGrant.ID); err != nil {
			t.Fatalf("grant expired under a day ago was swept: %v", err)
		}
		// A day after, it goes, and the live grants stay.
		f.clock.Advance(time.Microsecond)
		if n, err := s.Sweep(ctx); err != nil || n != 1 {
			t.Fatalf("third Sweep = %d, %v; want 1", n, err)
		}
		_, err = s.Get(ctx, shortGrant.ID)
		wantErr(t, "grant expired a day ago", err, grant.ErrNotFound)
		wantActive(t, f, longGrant.ID)
		if n := count(t, d, `SELECT COUNT(*) FROM oidc_grants`); n != 2 {
			t.Fatalf("%d grants left, want the 2 live ones", n)
		}
		if n, err := s.Sweep(ctx); err != nil || n != 0 {
			t.Fatalf("Sweep with nothing expired = %d, %v", n, err)
		}
	})
}
