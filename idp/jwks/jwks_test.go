package jwks_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"eidp/hsm"
	"eidp/hsm/keyring"
	"eidp/hsm/soft"
	"eidp/idp/jwks"
	"eidp/internal/testenv"
)

var start = time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)

// node is one eidp process: its own database pool, keyring and Set over a
// shared database and a shared soft key directory.
type node struct {
	ring *keyring.Keyring
	km   hsm.KeyManager
	set  *jwks.Set
}

func newNode(t *testing.T, url, keyDir string, clock *testenv.Clock) *node {
	t.Helper()
	km, err := soft.Open(context.Background(), soft.Options{Dir: keyDir, MasterKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { km.Close() })
	ring := keyring.New(testenv.OpenDB(t, url), km, keyring.WithClock(clock.Now))
	return &node{ring: ring, km: km, set: jwks.New(ring, km, jwks.Options{Now: clock.Now})}
}

func kids(t *testing.T, s *jwks.Set) []string {
	t.Helper()
	set, err := s.Published(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range set.Keys {
		ids = append(ids, k.KeyID)
	}
	slices.Sort(ids)
	return ids
}

func sorted(ids ...string) []string { slices.Sort(ids); return ids }

// sign issues a JWT with the Set's current signer, as the OP will.
func sign(t *testing.T, s *jwks.Set, alg jose.SignatureAlgorithm) (token, kid string) {
	t.Helper()
	signer, kid, err := s.Signer(context.Background(), alg)
	if err != nil {
		t.Fatal(err)
	}
	js, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: signer}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	token, err = jwt.Signed(js).Claims(jwt.Claims{Issuer: "https://eidp.test", Subject: "resident"}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return token, kid
}

// verify checks token against the set a relying party would fetch from /jwks.
func verify(t *testing.T, s *jwks.Set, token string) error {
	t.Helper()
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/jwks", nil))
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil {
		t.Fatalf("/jwks body: %v: %s", err, rec.Body)
	}
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.RS256, jose.PS256})
	if err != nil {
		t.Fatal(err)
	}
	var c jwt.Claims
	if err := tok.Claims(set, &c); err != nil {
		return err
	}
	if c.Subject != "resident" {
		t.Fatalf("claims: %+v", c)
	}
	return nil
}

func TestRotationTimeline(t *testing.T) {
	ctx := context.Background()
	for _, d := range testenv.Databases(t) {
		t.Run(string(d.Engine), func(t *testing.T) {
			clock := testenv.NewClock(start)
			n := newNode(t, d.URL, t.TempDir(), clock)
			old, _, err := n.ring.Ensure(ctx, keyring.OIDCSigning)
			if err != nil {
				t.Fatal(err)
			}
			before, kid := sign(t, n.set, jose.ES256)
			if kid != old.ID {
				t.Fatalf("kid %s, want %s", kid, old.ID)
			}

			next, err := n.ring.Rotate(ctx, keyring.OIDCSigning, hsm.ECP256)
			if err != nil {
				t.Fatal(err)
			}
			n.set.Refresh(ctx) // this node rotated: no need to wait
			if got := kids(t, n.set); !slices.Equal(got, sorted(old.ID, next.ID)) {
				t.Fatalf("after rotate JWKS has %v, want both keys", got)
			}
			if _, kid := sign(t, n.set, jose.ES256); kid != old.ID {
				t.Fatalf("after rotate the old key still signs; got %s", kid)
			}

			clock.Advance(time.Hour)
			after, kid := sign(t, n.set, jose.ES256)
			if kid != next.ID {
				t.Fatalf("after activate_at the new key signs; got %s", kid)
			}
			if got := kids(t, n.set); !slices.Equal(got, sorted(old.ID, next.ID)) {
				t.Fatalf("after activate_at JWKS has %v, want both keys", got)
			}
			for name, tok := range map[string]string{"before rotation": before, "after activation": after} {
				if err := verify(t, n.set, tok); err != nil {
					t.Fatalf("token signed %s does not verify: %v", name, err)
				}
			}

			clock.Advance(24*time.Hour - time.Second)
			if err := verify(t, n.set, before); err != nil {
				t.Fatalf("a second before retire_at the old token still verifies: %v", err)
			}
			// At retire_at the key is retired in the database; a node drops it
			// from /jwks at its next refresh, at most one interval later.
			clock.Advance(time.Second + jwks.DefaultRefresh)
			if got := kids(t, n.set); !slices.Equal(got, []string{next.ID}) {
				t.Fatalf("after retire_at JWKS has %v, want only %s", got, next.ID)
			}
			if err := verify(t, n.set, before); !errors.Is(err, jose.ErrJWKSKidNotFound) {
				t.Fatalf("after retire_at the old key's token must not verify: %v", err)
			}
			if err := verify(t, n.set, after); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestEmergencyRotation(t *testing.T) {
	ctx := context.Background()
	for _, d := range testenv.Databases(t) {
		t.Run(string(d.Engine), func(t *testing.T) {
			clock := testenv.NewClock(start)
			n := newNode(t, d.URL, t.TempDir(), clock)
			old, _, _ := n.ring.Ensure(ctx, keyring.OIDCSigning)
			before, _ := sign(t, n.set, jose.ES256)
			now, err := n.ring.RotateNow(ctx, keyring.OIDCSigning, hsm.ECP256)
			if err != nil {
				t.Fatal(err)
			}
			n.set.Refresh(ctx)
			if _, kid := sign(t, n.set, jose.ES256); kid != now.ID {
				t.Fatalf("the new key signs at once; got %s", kid)
			}
			if err := verify(t, n.set, before); err != nil {
				t.Fatalf("the old key stays published: %v", err)
			}
			clock.Advance(24 * time.Hour)
			if got := kids(t, n.set); !slices.Equal(got, []string{now.ID}) || slices.Contains(got, old.ID) {
				t.Fatalf("after the retain time JWKS has %v", got)
			}
		})
	}
}

// A rotation made by another process (`eidp keys rotate`) reaches a running
// server within its refresh interval, without a restart.
func TestAnotherNodesRotationIsPickedUp(t *testing.T) {
	ctx := context.Background()
	for _, d := range testenv.Databases(t) {
		t.Run(string(d.Engine), func(t *testing.T) {
			clock := testenv.NewClock(start)
			keyDir := t.TempDir()
			server := newNode(t, d.URL, keyDir, clock)
			operator := newNode(t, d.URL, keyDir, clock)
			old, _, _ := server.ring.Ensure(ctx, keyring.OIDCSigning)
			if got := kids(t, server.set); !slices.Equal(got, []string{old.ID}) {
				t.Fatalf("server publishes %v", got)
			}
			next, err := operator.ring.Rotate(ctx, keyring.OIDCSigning, hsm.ECP256)
			if err != nil {
				t.Fatal(err)
			}
			clock.Advance(jwks.DefaultRefresh - time.Second)
			if got := kids(t, server.set); !slices.Equal(got, []string{old.ID}) {
				t.Fatalf("within the refresh interval the server still serves what it read: %v", got)
			}
			clock.Advance(time.Second)
			if got := kids(t, server.set); !slices.Equal(got, sorted(old.ID, next.ID)) {
				t.Fatalf("after the refresh interval the server publishes %v, want both keys", got)
			}
			clock.Advance(time.Hour)
			if _, kid := sign(t, server.set, jose.ES256); kid != next.ID {
				t.Fatalf("after activate_at the server signs with %s, want %s", kid, next.ID)
			}
		})
	}
}

func TestAlgorithms(t *testing.T) {
	ctx := context.Background()
	for _, d := range testenv.Databases(t) {
		t.Run(string(d.Engine), func(t *testing.T) {
			clock := testenv.NewClock(start)
			n := newNode(t, d.URL, t.TempDir(), clock)
			if _, _, err := n.set.Signer(ctx, jose.ES256); !errors.Is(err, jwks.ErrNoSigningKey) {
				t.Fatalf("no key yet: %v", err)
			}
			ec, _ := n.ring.Create(ctx, keyring.OIDCSigning, hsm.ECP256)
			n.set.Refresh(ctx)
			if _, _, err := n.set.Signer(ctx, jose.RS256); !errors.Is(err, jwks.ErrNoSigningKey) {
				t.Fatalf("RS256 with an EC key: %v", err)
			}
			rsaKey, err := n.ring.RotateNow(ctx, keyring.OIDCSigning, hsm.RSA2048)
			if err != nil {
				t.Fatal(err)
			}
			n.set.Refresh(ctx)
			for _, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.PS256} {
				tok, kid := sign(t, n.set, alg)
				if kid != rsaKey.ID {
					t.Fatalf("%s kid %s", alg, kid)
				}
				if err := verify(t, n.set, tok); err != nil {
					t.Fatalf("%s: %v", alg, err)
				}
			}
			algs, _ := n.set.SigningAlgorithms(ctx)
			if !slices.Contains(algs, jose.RS256) || !slices.Contains(algs, jose.PS256) {
				t.Fatalf("signing algorithms %v", algs)
			}
			set, _ := n.set.Published(ctx)
			for _, k := range set.Keys {
				want := map[string]string{ec.ID: "ES256", rsaKey.ID: ""}[k.KeyID]
				if k.Algorithm != want || k.Use != "sig" || !k.IsPublic() {
					t.Errorf("key %s: alg %q use %q public %v; want alg %q", k.KeyID, k.Algorithm, k.Use, k.IsPublic(), want)
				}
			}
		})
	}
}

func TestServeHTTP(t *testing.T) {
	d := testenv.Databases(t)[0]
	clock := testenv.NewClock(start)
	n := newNode(t, d.URL, t.TempDir(), clock)
	key, _, _ := n.ring.Ensure(context.Background(), keyring.OIDCSigning)

	rec := httptest.NewRecorder()
	n.set.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/jwks", nil))
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" ||
		rec.Header().Get("Cache-Control") != "public, max-age=30" {
		t.Fatalf("%d %v", rec.Code, rec.Header())
	}
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || len(doc.Keys) != 1 {
		t.Fatalf("%v %s", err, rec.Body)
	}
	k := doc.Keys[0]
	// RFC 7517 §4, RFC 7518 §6.2.1: a public EC key, nothing private.
	if k["kty"] != "EC" || k["crv"] != "P-256" || k["kid"] != key.ID || k["use"] != "sig" || k["alg"] != "ES256" ||
		k["x"] == nil || k["y"] == nil || k["d"] != nil {
		t.Fatalf("JWK %v", k)
	}

	rec = httptest.NewRecorder()
	n.set.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/jwks", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", rec.Code)
	}
}
