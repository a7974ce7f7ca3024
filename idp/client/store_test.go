package client_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"eidp/idp/client"
	"eidp/internal/db"
	"eidp/internal/testenv"
)

func newStore(t *testing.T, d *db.DB, production bool) (*client.Store, *testenv.Clock) {
	t.Helper()
	s := client.NewStore(d, client.Options{Production: production})
	clock := testenv.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	client.SetNow(s, clock.Now)
	return s, clock
}

func TestStore(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()

		t.Run("create gives a random ID and a secret shown once, stored only as its hash", func(t *testing.T) {
			s, _ := newStore(t, d, true)
			c, secret, err := s.Create(ctx, webClient())
			if err != nil {
				t.Fatal(err)
			}
			if id, err := base64.RawURLEncoding.DecodeString(c.ClientID); err != nil || len(id) != 16 {
				t.Errorf("client_id %q is not 16 random bytes in base64url", c.ClientID)
			}
			if raw, err := base64.RawURLEncoding.DecodeString(secret); err != nil || len(raw) != 32 {
				t.Errorf("secret %q is not 32 random bytes in base64url", secret)
			}
			sum := sha256.Sum256([]byte(secret))
			if c.ClientSecretHash != hex.EncodeToString(sum[:]) {
				t.Errorf("hash %q is not SHA-256 of the secret", c.ClientSecretHash)
			}
			var stored string
			if err := d.QueryRowContext(ctx, `SELECT metadata || COALESCE(client_secret_hash, '') FROM oauth_clients WHERE id = $1`, c.ClientID).Scan(&stored); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(stored, secret) {
				t.Fatal("the secret itself is in the database")
			}
			got, err := s.Get(ctx, c.ClientID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c) {
				t.Fatalf("Get differs from Create:\n got %+v\nwant %+v", got, c)
			}
			if got.TokenEndpointAuthMethod != client.AuthClientSecretBasic || got.SubjectType != client.SubjectPairwise || got.IDTokenSignedResponseAlg != "ES256" {
				t.Errorf("defaults not stored: %+v", got)
			}
		})

		t.Run("the secret verifies, and a wrong secret and an unknown client give the same error", func(t *testing.T) {
			s, _ := newStore(t, d, true)
			c, secret, err := s.Create(ctx, webClient())
			if err != nil {
				t.Fatal(err)
			}
			if got, err := s.VerifySecret(ctx, c.ClientID, secret); err != nil || got.ClientID != c.ClientID {
				t.Fatalf("right secret: %v", err)
			}
			last := "A"
			if strings.HasSuffix(secret, last) {
				last = "B"
			}
			_, wrong := s.VerifySecret(ctx, c.ClientID, secret[:len(secret)-1]+last)
			_, unknown := s.VerifySecret(ctx, "no-such-client", secret)
			_, empty := s.VerifySecret(ctx, c.ClientID, "")
			for name, err := range map[string]error{"wrong secret": wrong, "unknown client": unknown, "empty secret": empty} {
				if !errors.Is(err, client.ErrInvalidClient) {
					t.Errorf("%s: %v, want ErrInvalidClient", name, err)
				}
			}
			if wrong.Error() != unknown.Error() {
				t.Errorf("the errors differ, which tells client IDs apart: %q vs %q", wrong, unknown)
			}
		})

		t.Run("a client without a secret authenticates with none", func(t *testing.T) {
			s, _ := newStore(t, d, true)
			native := webClient()
			native.TokenEndpointAuthMethod = client.AuthNone
			native.RedirectURIs = []string{"https://tax.example.gov/app-cb"}
			c, secret, err := s.Create(ctx, native)
			if err != nil || secret != "" || c.ClientSecretHash != "" {
				t.Fatalf("a public client got a secret: %q %v", secret, err)
			}
			if _, err := s.VerifySecret(ctx, c.ClientID, ""); !errors.Is(err, client.ErrInvalidClient) {
				t.Fatalf("empty secret for a public client: %v", err)
			}
			if _, err := s.RotateSecret(ctx, c.ClientID); !errors.Is(err, client.ErrNoSecret) {
				t.Fatalf("rotating a public client's secret: %v", err)
			}
		})

		t.Run("rotate-secret invalidates the old secret", func(t *testing.T) {
			s, clock := newStore(t, d, true)
			c, old, err := s.Create(ctx, webClient())
			if err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Hour)
			fresh, err := s.RotateSecret(ctx, c.ClientID)
			if err != nil || fresh == "" || fresh == old {
				t.Fatalf("rotate: %q %v", fresh, err)
			}
			if _, err := s.VerifySecret(ctx, c.ClientID, old); !errors.Is(err, client.ErrInvalidClient) {
				t.Fatalf("the old secret still works: %v", err)
			}
			if _, err := s.VerifySecret(ctx, c.ClientID, fresh); err != nil {
				t.Fatalf("the new secret: %v", err)
			}
			if got, _ := s.Get(ctx, c.ClientID); !got.UpdatedAt.Equal(c.CreatedAt.Add(time.Hour)) {
				t.Errorf("updated_at not moved: %v", got.UpdatedAt)
			}
			if _, err := s.RotateSecret(ctx, "no-such-client"); !errors.Is(err, client.ErrNotFound) {
				t.Fatalf("rotate unknown: %v", err)
			}
		})

		t.Run("a requested client ID is kept, and a duplicate is ErrExists", func(t *testing.T) {
			s, _ := newStore(t, d, true)
			want := webClient()
			want.ClientID = "tax-efiling"
			c, _, err := s.Create(ctx, want)
			if err != nil || c.ClientID != "tax-efiling" {
				t.Fatalf("create with ID: %+v %v", c, err)
			}
			if _, _, err := s.Create(ctx, want); !errors.Is(err, client.ErrExists) {
				t.Fatalf("duplicate: %v, want ErrExists", err)
			}
			bad := webClient()
			bad.ClientID = "tax efiling"
			if _, _, err := s.Create(ctx, bad); !errors.Is(err, client.ErrInvalidMetadata) {
				t.Fatalf("malformed ID: %v", err)
			}
		})

		t.Run("invalid metadata is not stored", func(t *testing.T) {
			s, _ := newStore(t, d, true)
			dev := webClient()
			dev.ClientID = "local-dev"
			dev.RedirectURIs = []string{"http://localhost:3000/cb"}
			_, _, err := s.Create(ctx, dev)
			var verr *client.ValidationError
			if !errors.As(err, &verr) || verr.Field != "redirect_uris[0]" || verr.Code() != client.CodeInvalidRedirectURI {
				t.Fatalf("http redirect in production: %v", err)
			}
			if _, err := s.Get(ctx, "local-dev"); !errors.Is(err, client.ErrNotFound) {
				t.Fatalf("the refused client was stored: %v", err)
			}
			// The same client is fine in development.
			devStore, _ := newStore(t, d, false)
			if _, _, err := devStore.Create(ctx, dev); err != nil {
				t.Fatalf("loopback http in development: %v", err)
			}
		})

		t.Run("the consent page's fields are stored and read back", func(t *testing.T) {
			s, _ := newStore(t, d, true)
			c := webClient()
			c.ClientNameZH, c.Purpose, c.PurposeZH = "稅務局電子報稅", "To file your tax return.", "為你提交報稅表。"
			c.LogoURI, c.ClientURI = "https://tax.example.gov/logo.svg", "https://tax.example.gov/"
			c.PolicyURI, c.TOSURI = "https://tax.example.gov/privacy", "https://tax.example.gov/terms"
			created, _, err := s.Create(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Get(ctx, created.ClientID)
			if err != nil {
				t.Fatal(err)
			}
			if got.ClientNameZH != c.ClientNameZH || got.Purpose != c.Purpose || got.PurposeZH != c.PurposeZH ||
				got.LogoURI != c.LogoURI || got.ClientURI != c.ClientURI || got.PolicyURI != c.PolicyURI || got.TOSURI != c.TOSURI {
				t.Fatalf("read back %+v", got)
			}
			if name, purpose := got.Localized("zh-HK"); name != c.ClientNameZH || purpose != c.PurposeZH {
				t.Fatalf("Localized(zh-HK) = %q, %q", name, purpose)
			}
		})

		t.Run("update replaces the metadata and keeps the secret and creation time", func(t *testing.T) {
			s, clock := newStore(t, d, true)
			c, secret, err := s.Create(ctx, webClient())
			if err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Minute)
			c.ClientName = "Inland Revenue e-Tax"
			c.RedirectURIs = append(c.RedirectURIs, "https://tax.example.gov/callback2")
			c.RequirePushedAuthorizationRequests = true
			c.CreatedAt = time.Time{}       // ignored
			c.ClientSecretHash = "tampered" // ignored
			updated, issued, err := s.Update(ctx, c)
			if err != nil || issued != "" {
				t.Fatalf("update: %q %v", issued, err)
			}
			got, err := s.Get(ctx, c.ClientID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, updated) {
				t.Fatalf("Get differs from Update:\n got %+v\nwant %+v", got, updated)
			}
			if got.ClientName != "Inland Revenue e-Tax" || len(got.RedirectURIs) != 2 || !got.RequirePushedAuthorizationRequests ||
				got.CreatedAt.IsZero() || !got.UpdatedAt.Equal(got.CreatedAt.Add(time.Minute)) {
				t.Fatalf("after update: %+v", got)
			}
			if _, err := s.VerifySecret(ctx, c.ClientID, secret); err != nil {
				t.Fatalf("the secret stopped working after update: %v", err)
			}

			bad := got
			bad.RedirectURIs = []string{"https://tax.example.gov/cb#frag"}
			if _, _, err := s.Update(ctx, bad); !errors.Is(err, client.ErrInvalidMetadata) {
				t.Fatalf("invalid update: %v", err)
			}
			missing := got
			missing.ClientID = "no-such-client"
			if _, _, err := s.Update(ctx, missing); !errors.Is(err, client.ErrNotFound) {
				t.Fatalf("update unknown: %v", err)
			}
		})

		t.Run("switching to private_key_jwt drops the secret, and switching back issues a new one", func(t *testing.T) {
			s, _ := newStore(t, d, true)
			c, secret, err := s.Create(ctx, webClient())
			if err != nil {
				t.Fatal(err)
			}
			c.TokenEndpointAuthMethod = client.AuthPrivateKeyJWT
			c.JWKS = jwkSet(t, false)
			if _, issued, err := s.Update(ctx, c); err != nil || issued != "" {
				t.Fatalf("to private_key_jwt: %q %v", issued, err)
			}
			if _, err := s.VerifySecret(ctx, c.ClientID, secret); !errors.Is(err, client.ErrInvalidClient) {
				t.Fatalf("the old secret works after switching to private_key_jwt: %v", err)
			}
			c.TokenEndpointAuthMethod = client.AuthClientSecretPost
			c.JWKS = nil
			updated, issued, err := s.Update(ctx, c)
			if err != nil || issued == "" || issued == secret {
				t.Fatalf("back to a secret: %q %v", issued, err)
			}
			if _, err := s.VerifySecret(ctx, updated.ClientID, issued); err != nil {
				t.Fatalf("the issued secret: %v", err)
			}
		})

		t.Run("list returns every client oldest first, and delete removes one", func(t *testing.T) {
			s, clock := newStore(t, d, true)
			before, err := s.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, name := range []string{"Lands Department", "Transport Department", "Housing Authority"} {
				clock.Advance(time.Second)
				c := webClient()
				c.ClientName = name
				created, _, err := s.Create(ctx, c)
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, created.ClientID)
			}
			all, err := s.List(ctx)
			if err != nil || len(all) != len(before)+3 {
				t.Fatalf("list: %d clients, %v", len(all), err)
			}
			tail := all[len(all)-3:]
			for i, c := range tail {
				if c.ClientID != ids[i] {
					t.Fatalf("list order: %s at %d, want %s", c.ClientID, i, ids[i])
				}
			}
			if err := s.Delete(ctx, ids[1]); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Get(ctx, ids[1]); !errors.Is(err, client.ErrNotFound) {
				t.Fatalf("get after delete: %v", err)
			}
			if err := s.Delete(ctx, ids[1]); !errors.Is(err, client.ErrNotFound) {
				t.Fatalf("second delete: %v", err)
			}
			if after, _ := s.List(ctx); len(after) != len(before)+2 {
				t.Fatalf("list after delete: %d clients", len(after))
			}
		})

		t.Run("the database refuses a secret hash on a client that uses none", func(t *testing.T) {
			_, err := d.ExecContext(ctx, `INSERT INTO oauth_clients
				(id, token_endpoint_auth_method, client_secret_hash, metadata, created_at, updated_at)
				VALUES ('raw', 'none', 'abc', '{}', 0, 0)`)
			if err == nil || !strings.Contains(err.Error(), "oauth_clients_secret_check") {
				t.Fatalf("want oauth_clients_secret_check to refuse the row, got %v", err)
			}
		})
	})
}
