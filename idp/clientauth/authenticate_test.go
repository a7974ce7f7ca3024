package clientauth_test

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"eidp/idp/client"
	"eidp/idp/clientauth"
	"eidp/internal/db"
	"eidp/internal/testenv"
)

const authFailed = "client authentication failed"

func TestAuthenticate(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		e := newEnv(t, d)

		basic, basicSecret := e.secretClient(t, client.AuthClientSecretBasic)
		post, postSecret := e.secretClient(t, client.AuthClientSecretPost)
		public := e.publicClient(t)
		ec := ecKey(t, "ec-1")
		jwks := e.jwtClient(t, "", ec.public())
		rsaURI := rsaKey(t, 0, jose.RS256, "rsa-1")
		e.jwks.serve(keySet(rsaURI.public()))
		byURI := e.uriClient(t)
		pss := rsaKey(t, 1, jose.PS256, "pss-1")
		pinned := e.jwtClient(t, "PS256", jose.JSONWebKey{Key: pss.priv.Public(), KeyID: pss.kid})

		t.Run("each method authenticates its client", func(t *testing.T) {
			for _, tc := range []struct {
				name  string
				creds clientauth.Credentials
				want  string
			}{
				{"client_secret_basic", clientauth.Credentials{ClientID: basic.ClientID, ClientSecret: basicSecret, Basic: true}, basic.ClientID},
				{"client_secret_post", clientauth.Credentials{ClientID: post.ClientID, ClientSecret: postSecret}, post.ClientID},
				{"none, for a public client", clientauth.Credentials{ClientID: public.ClientID}, public.ClientID},
				{"private_key_jwt with jwks (ES256)", jwtCreds(jwks.ClientID, e.assertion(t, jwks, ec, nil)), jwks.ClientID},
				{"private_key_jwt without client_id (iss names the client)", jwtCreds("", e.assertion(t, jwks, ec, nil)), jwks.ClientID},
				{"private_key_jwt with jwks_uri (RS256)", jwtCreds(byURI.ClientID, e.assertion(t, byURI, rsaURI, nil)), byURI.ClientID},
				{"private_key_jwt with the registered alg (PS256)", jwtCreds(pinned.ClientID, e.assertion(t, pinned, pss, nil)), pinned.ClientID},
			} {
				t.Run(tc.name, func(t *testing.T) {
					got, err := e.auth.Authenticate(ctx, tc.creds)
					if err != nil {
						t.Fatal(err)
					}
					if got.ClientID != tc.want {
						t.Fatalf("authenticated %q, want %q", got.ClientID, tc.want)
					}
				})
			}
		})

		t.Run("a method other than the registered one is refused", func(t *testing.T) {
			for _, tc := range []struct {
				name  string
				creds clientauth.Credentials
				kind  error
				desc  string
			}{
				{"client_secret_basic client posting its secret", clientauth.Credentials{ClientID: basic.ClientID, ClientSecret: basicSecret}, clientauth.ErrInvalidClient, "registered for client_secret_basic, not client_secret_post"},
				{"client_secret_post client using Basic", clientauth.Credentials{ClientID: post.ClientID, ClientSecret: postSecret, Basic: true}, clientauth.ErrInvalidClient, "registered for client_secret_post, not client_secret_basic"},
				{"client_secret_basic client sending only its client_id", clientauth.Credentials{ClientID: basic.ClientID}, clientauth.ErrInvalidClient, authFailed},
				{"client_secret_basic client sending an assertion", jwtCreds(basic.ClientID, e.assertion(t, basic, ec, nil)), clientauth.ErrInvalidClient, authFailed},
				{"private_key_jwt client sending a secret", clientauth.Credentials{ClientID: jwks.ClientID, ClientSecret: basicSecret, Basic: true}, clientauth.ErrInvalidClient, authFailed},
				{"private_key_jwt client sending only its client_id", clientauth.Credentials{ClientID: jwks.ClientID}, clientauth.ErrInvalidClient, authFailed},
				{"public client sending a secret", clientauth.Credentials{ClientID: public.ClientID, ClientSecret: basicSecret, Basic: true}, clientauth.ErrInvalidClient, authFailed},
				{"public client posting an empty secret in Basic", clientauth.Credentials{ClientID: public.ClientID, Basic: true}, clientauth.ErrInvalidClient, authFailed},
				{"public client sending an assertion", jwtCreds(public.ClientID, e.assertion(t, public, ec, nil)), clientauth.ErrInvalidClient, authFailed},
				{"PS256 client signing with RS256", jwtCreds(pinned.ClientID, e.assertion(t, pinned, pss.with(jose.RS256, pss.kid), nil)), clientauth.ErrInvalidClient, authFailed},
			} {
				t.Run(tc.name, func(t *testing.T) {
					got, err := e.auth.Authenticate(ctx, tc.creds)
					wantRefused(t, err, tc.kind, tc.desc)
					if got.ClientID != "" {
						t.Fatalf("a refused authentication returned client %q", got.ClientID)
					}
				})
			}
		})

		t.Run("two methods at once are an invalid request", func(t *testing.T) {
			assertion := e.assertion(t, jwks, ec, nil)
			for _, tc := range []struct {
				name  string
				creds clientauth.Credentials
			}{
				{"Basic and an assertion", clientauth.Credentials{ClientID: basic.ClientID, ClientSecret: basicSecret, Basic: true, ClientAssertion: assertion, ClientAssertionType: clientauth.AssertionType}},
				{"a posted secret and an assertion", clientauth.Credentials{ClientID: jwks.ClientID, ClientSecret: postSecret, ClientAssertion: assertion, ClientAssertionType: clientauth.AssertionType}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					_, err := e.auth.Authenticate(ctx, tc.creds)
					wantRefused(t, err, clientauth.ErrInvalidRequest, "more than one client authentication method")
				})
			}
			_, err := e.auth.Authenticate(ctx, jwtCreds(jwks.ClientID, assertion))
			if err != nil {
				t.Fatalf("the assertion of a refused request was used up: %v", err)
			}
		})

		t.Run("an unknown client and a wrong secret get the same description, without the secret", func(t *testing.T) {
			wrong := basicSecret[:len(basicSecret)-1] + "x"
			if wrong == basicSecret {
				wrong = basicSecret[:len(basicSecret)-1] + "y"
			}
			for _, tc := range []struct {
				name  string
				creds clientauth.Credentials
			}{
				{"wrong secret", clientauth.Credentials{ClientID: basic.ClientID, ClientSecret: wrong, Basic: true}},
				{"unknown client with a secret", clientauth.Credentials{ClientID: "no-such-client", ClientSecret: basicSecret, Basic: true}},
				{"unknown client without credentials", clientauth.Credentials{ClientID: "no-such-client"}},
				{"unknown client with an assertion", jwtCreds("", e.assertion(t, client.Client{ClientID: "no-such-client"}, ec, nil))},
				{"assertion signed by a key the client did not register", jwtCreds(jwks.ClientID, e.assertion(t, jwks, ecKey(t, ec.kid), nil))},
			} {
				t.Run(tc.name, func(t *testing.T) {
					_, err := e.auth.Authenticate(ctx, tc.creds)
					var ce *clientauth.Error
					if !errors.As(err, &ce) || !errors.Is(err, clientauth.ErrInvalidClient) {
						t.Fatalf("got %v, want an invalid_client *Error", err)
					}
					if ce.Description != authFailed {
						t.Fatalf("description %q, want exactly %q", ce.Description, authFailed)
					}
					if strings.Contains(err.Error(), basicSecret) || strings.Contains(err.Error(), wrong) {
						t.Fatal("the error contains the secret")
					}
				})
			}
		})

		t.Run("a malformed request is refused", func(t *testing.T) {
			_, err := e.auth.Authenticate(ctx, clientauth.Credentials{})
			wantRefused(t, err, clientauth.ErrInvalidClient, "no client authentication")
			_, err = e.auth.Authenticate(ctx, clientauth.Credentials{ClientSecret: postSecret})
			wantRefused(t, err, clientauth.ErrInvalidRequest, "without client_id")
			_, err = e.auth.Authenticate(ctx, clientauth.Credentials{ClientID: jwks.ClientID, ClientAssertionType: clientauth.AssertionType})
			wantRefused(t, err, clientauth.ErrInvalidRequest, "go together")
			_, err = e.auth.Authenticate(ctx, clientauth.Credentials{ClientID: jwks.ClientID, ClientAssertion: e.assertion(t, jwks, ec, nil)})
			wantRefused(t, err, clientauth.ErrInvalidRequest, "go together")
		})
	})
}

func TestAssertionClaims(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		e := newEnv(t, d)
		ec := ecKey(t, "ec-1")
		c := e.jwtClient(t, "", ec.public())
		other := e.jwtClient(t, "", ec.public())
		now := e.clock.Now()
		rsa := rsaKey(t, 2, jose.RS256, "rsa-1")

		for _, tc := range []struct {
			name string
			// token makes the assertion from valid claims (with a fresh
			// jti); nil: signed with ec after edit.
			edit     func(map[string]any)
			token    func(claims map[string]any) string
			clientID string
			typ      string
			want     string // empty: accepted
			kind     error
		}{
			{name: "aud = the issuer is accepted"},
			{name: "aud = the token endpoint is accepted", edit: func(m map[string]any) { m["aud"] = tokenEndpoint }},
			{name: "aud = the PAR endpoint is accepted", edit: func(m map[string]any) { m["aud"] = parEndpoint }},
			{name: "aud as an array containing the issuer is accepted", edit: func(m map[string]any) { m["aud"] = []string{"https://other.example", issuer} }},
			{name: "an exp within the leeway is accepted", edit: func(m map[string]any) {
				m["exp"] = now.Add(-10 * time.Second).Unix()
				m["iat"] = now.Add(-time.Minute).Unix()
			}},
			{name: "an assertion without iat is accepted", edit: func(m map[string]any) { delete(m, "iat") }},
			{name: "typ client-authentication+jwt is accepted", typ: "client-authentication+jwt"},

			{name: "a wrong aud is refused", edit: func(m map[string]any) { m["aud"] = "https://other.example" }, want: "aud must contain the issuer"},
			{name: "an aud array without us is refused", edit: func(m map[string]any) { m["aud"] = []string{"https://other.example", issuer + "/"} }, want: "aud must contain the issuer"},
			{name: "no aud is refused", edit: func(m map[string]any) { delete(m, "aud") }, want: "aud must contain the issuer"},
			{name: "an expired assertion is refused", edit: func(m map[string]any) {
				m["exp"] = now.Add(-time.Minute).Unix()
				m["iat"] = now.Add(-2 * time.Minute).Unix()
			}, want: "expired"},
			{name: "an assertion without exp is refused", edit: func(m map[string]any) { delete(m, "exp") }, want: "no exp"},
			{name: "an assertion valid for an hour is refused", edit: func(m map[string]any) { m["exp"] = now.Add(time.Hour).Unix() }, want: "too far ahead"},
			{name: "an assertion valid for 10 minutes from an old iat is refused", edit: func(m map[string]any) { m["iat"] = now.Add(-8 * time.Minute).Unix() }, want: "from iat to exp"},
			{name: "an nbf in the future is refused", edit: func(m map[string]any) { m["nbf"] = now.Add(time.Minute).Unix() }, want: "not valid before"},
			{name: "an iat in the future is refused", edit: func(m map[string]any) { m["iat"] = now.Add(time.Minute).Unix() }, want: "issued in the future"},
			{name: "an assertion without jti is refused", edit: func(m map[string]any) { delete(m, "jti") }, want: "no jti"},
			{name: "an overlong jti is refused", edit: func(m map[string]any) { m["jti"] = strings.Repeat("j", 257) }, want: "jti is longer"},
			{name: "iss other than sub is refused", edit: func(m map[string]any) { m["sub"] = other.ClientID }, want: "iss and sub differ"},
			{name: "sub other than iss is refused", edit: func(m map[string]any) { m["iss"] = other.ClientID }, want: "iss and sub differ"},
			{name: "no sub is refused", edit: func(m map[string]any) { delete(m, "sub") }, want: "needs iss and sub"},
			{name: "a client_id parameter other than iss is refused", clientID: other.ClientID, want: "client_id does not match"},
			{name: "iss = sub = another client with the same key is refused", edit: func(m map[string]any) { m["iss"], m["sub"] = other.ClientID, other.ClientID }, clientID: c.ClientID, want: "client_id does not match"},
			{name: "claims of the wrong type are refused", edit: func(m map[string]any) { m["exp"] = "soon" }, want: "not a JSON object of the registered JWT claim types"},
			{name: "a request object used as an assertion is refused", typ: "oauth-authz-req+jwt", want: "a request object is not a client assertion"},
			{name: "an assertion with response_type is refused", edit: func(m map[string]any) { m["response_type"] = "code" }, want: "like a request object"},
			{name: "alg none is refused", token: func(m map[string]any) string { return unsigned(t, ec.kid, m) }, want: `alg "none"`},
			{name: "HS256 is refused", token: func(m map[string]any) string {
				return signWith(t, jose.SigningKey{Algorithm: jose.HS256, Key: []byte(strings.Repeat("k", 32))}, "", m)
			}, want: `alg "HS256"`},
			{name: "ES512 is refused without a registered alg", token: func(m map[string]any) string {
				return sign(t, p521Key(t, "ec-1"), "", m)
			}, want: `alg "ES512"`},
			{name: "a JWE is refused", token: func(m map[string]any) string { return encrypted(t, &rsaKeys[2].PublicKey, m) }, want: "encrypted (JWE)"},
			{name: "an RS256 signature against an EC key is refused", token: func(m map[string]any) string { return sign(t, rsa.with(jose.RS256, ec.kid), "", m) }, want: authFailed},
			{name: "a token that is not a JWS is refused", token: func(map[string]any) string { return "not.a.jws" }, want: "not a JWS"},
			{name: "an oversized assertion is refused", edit: func(m map[string]any) { m["pad"] = strings.Repeat("p", 20<<10) }, want: "larger than"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				claims := e.assertionClaims(c.ClientID)
				if tc.edit != nil {
					tc.edit(claims)
				}
				var token string
				if tc.token != nil {
					token = tc.token(claims)
				} else {
					token = sign(t, ec, tc.typ, claims)
				}
				id := c.ClientID
				if tc.clientID != "" {
					id = tc.clientID
				}
				got, err := e.auth.Authenticate(ctx, jwtCreds(id, token))
				jti, _ := claims["jti"].(string)
				if tc.want == "" {
					if err != nil {
						t.Fatal(err)
					}
					if got.ClientID != c.ClientID {
						t.Fatalf("authenticated %q, want %q", got.ClientID, c.ClientID)
					}
					if n := e.assertionsStored(t, jti); n != 1 {
						t.Fatalf("%d records of the accepted jti, want 1", n)
					}
					return
				}
				kind := tc.kind
				if kind == nil {
					kind = clientauth.ErrInvalidClient
				}
				wantRefused(t, err, kind, tc.want)
				if jti != "" {
					if n := e.assertionsStored(t, jti); n != 0 {
						t.Fatalf("a refused assertion's jti was recorded (%d rows)", n)
					}
				}
			})
		}
	})
}

func TestAssertionReplay(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()

		t.Run("a replayed jti is refused; the same jti from another client is accepted", func(t *testing.T) {
			e := newEnv(t, d)
			ec := ecKey(t, "ec-1")
			a, b := e.jwtClient(t, "", ec.public()), e.jwtClient(t, "", ec.public())
			jti := rand.Text()
			first := e.assertion(t, a, ec, func(m map[string]any) { m["jti"] = jti })
			if _, err := e.auth.Authenticate(ctx, jwtCreds(a.ClientID, first)); err != nil {
				t.Fatal(err)
			}
			_, err := e.auth.Authenticate(ctx, jwtCreds(a.ClientID, first))
			wantRefused(t, err, clientauth.ErrInvalidClient, "already used")
			again := e.assertion(t, a, ec, func(m map[string]any) { m["jti"] = jti; m["exp"] = e.clock.Now().Add(4 * time.Minute).Unix() })
			_, err = e.auth.Authenticate(ctx, jwtCreds(a.ClientID, again))
			wantRefused(t, err, clientauth.ErrInvalidClient, "already used")
			fromB := e.assertion(t, b, ec, func(m map[string]any) { m["jti"] = jti })
			if _, err := e.auth.Authenticate(ctx, jwtCreds(b.ClientID, fromB)); err != nil {
				t.Fatalf("the same jti from another client: %v", err)
			}
		})

		t.Run("of one assertion presented to two nodes at once, exactly one is accepted", func(t *testing.T) {
			e := newEnv(t, d)
			ec := ecKey(t, "ec-1")
			c := e.jwtClient(t, "", ec.public())
			nodes := []*clientauth.Authenticator{e.auth, clientauth.New(d, e.store, clientauth.Options{Issuer: issuer, Now: e.clock.Now})}
			assertion := e.assertion(t, c, ec, nil)
			const tries = 8
			var wg sync.WaitGroup
			errs := make(chan error, tries)
			for i := range tries {
				wg.Go(func() {
					_, err := nodes[i%2].Authenticate(ctx, jwtCreds(c.ClientID, assertion))
					errs <- err
				})
			}
			wg.Wait()
			close(errs)
			accepted := 0
			for err := range errs {
				switch {
				case err == nil:
					accepted++
				case errors.Is(err, clientauth.ErrInvalidClient) && strings.Contains(err.Error(), "already used"):
				default:
					t.Errorf("unexpected error: %v", err)
				}
			}
			if accepted != 1 {
				t.Fatalf("%d of %d accepted, want exactly 1", accepted, tries)
			}
		})

		t.Run("a jti is reusable only after Sweep, and Sweep removes only expired records", func(t *testing.T) {
			e := newEnv(t, d)
			ec := ecKey(t, "ec-1")
			c := e.jwtClient(t, "", ec.public())
			jti := rand.Text()
			reuse := func() error {
				_, err := e.auth.Authenticate(ctx, jwtCreds(c.ClientID, e.assertion(t, c, ec, func(m map[string]any) { m["jti"] = jti })))
				return err
			}
			if err := reuse(); err != nil {
				t.Fatal(err)
			}
			// A longer-lived assertion, whose record outlasts the first.
			keep := rand.Text()
			if _, err := e.auth.Authenticate(ctx, jwtCreds(c.ClientID, e.assertion(t, c, ec, func(m map[string]any) {
				m["jti"], m["exp"] = keep, e.clock.Now().Add(4*time.Minute).Unix()
			}))); err != nil {
				t.Fatal(err)
			}
			sweep := func() {
				t.Helper()
				if _, err := e.auth.Sweep(ctx); err != nil {
					t.Fatal(err)
				}
			}
			sweep()
			if e.assertionsStored(t, jti) != 1 {
				t.Fatal("Sweep removed a record before the assertion expired")
			}
			wantRefused(t, reuse(), clientauth.ErrInvalidClient, "already used")

			// exp is 2 min ahead; the record lasts until exp + leeway.
			e.clock.Advance(2*time.Minute + 20*time.Second)
			sweep()
			if e.assertionsStored(t, jti) != 1 {
				t.Fatal("Sweep removed a record within the leeway")
			}
			e.clock.Advance(15 * time.Second)
			wantRefused(t, reuse(), clientauth.ErrInvalidClient, "already used")
			if n, err := e.auth.Sweep(ctx); err != nil || n < 1 {
				t.Fatalf("Sweep after expiry removed %d (%v), want at least 1", n, err)
			}
			if e.assertionsStored(t, jti) != 0 {
				t.Fatal("Sweep kept an expired record")
			}
			if e.assertionsStored(t, keep) != 1 {
				t.Fatal("Sweep removed the record of an assertion that has not expired")
			}
			if err := reuse(); err != nil {
				t.Fatalf("the jti after Sweep: %v", err)
			}
			wantRefused(t, reuse(), clientauth.ErrInvalidClient, "already used")
		})
	})
}

func TestKeyRotation(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()

		t.Run("a new kid at the client is picked up by one refetch, at most once a minute", func(t *testing.T) {
			e := newEnv(t, d)
			k1, k2, k3 := ecKey(t, "k1"), ecKey(t, "k2"), ecKey(t, "k3")
			e.jwks.serve(keySet(k1.public()))
			c := e.uriClient(t)
			auth := func(k signingKey) error {
				_, err := e.auth.Authenticate(ctx, jwtCreds(c.ClientID, e.assertion(t, c, k, nil)))
				return err
			}
			if err := auth(k1); err != nil {
				t.Fatal(err)
			}
			if err := auth(k1); err != nil {
				t.Fatal(err)
			}
			if n := e.jwks.hits.Load(); n != 1 {
				t.Fatalf("%d fetches for two assertions with a known kid, want 1 (cached)", n)
			}

			e.jwks.serve(keySet(k2.public()))
			if err := auth(k2); err != nil {
				t.Fatalf("after rotation to k2: %v", err)
			}
			if n := e.jwks.hits.Load(); n != 2 {
				t.Fatalf("%d fetches after rotation, want 2", n)
			}
			if err := auth(k2); err != nil {
				t.Fatalf("k2 again: %v", err)
			}
			if n := e.jwks.hits.Load(); n != 2 {
				t.Fatalf("%d fetches, want 2: the refetched set is reused", n)
			}

			// A second rotation within the minute: no refetch yet.
			e.jwks.serve(keySet(k3.public()))
			e.clock.Advance(30 * time.Second)
			wantRefused(t, auth(k3), clientauth.ErrInvalidClient, authFailed)
			wantRefused(t, auth(ecKey(t, "made-up")), clientauth.ErrInvalidClient, authFailed)
			if n := e.jwks.hits.Load(); n != 2 {
				t.Fatalf("%d fetches, want 2: at most one refetch a minute", n)
			}
			e.clock.Advance(31 * time.Second)
			if err := auth(k3); err != nil {
				t.Fatalf("after rotation to k3, a minute later: %v", err)
			}
			if n := e.jwks.hits.Load(); n != 3 {
				t.Fatalf("%d fetches, want 3", n)
			}
		})

		t.Run("an unknown kid with inline jwks fetches nothing", func(t *testing.T) {
			e := newEnv(t, d)
			k1 := ecKey(t, "k1")
			c := e.jwtClient(t, "", k1.public())
			_, err := e.auth.Authenticate(ctx, jwtCreds(c.ClientID, e.assertion(t, c, ecKey(t, "k2"), nil)))
			wantRefused(t, err, clientauth.ErrInvalidClient, authFailed)
			if n := e.jwks.hits.Load(); n != 0 {
				t.Fatalf("%d fetches", n)
			}
		})

		t.Run("a private key published at jwks_uri is never used", func(t *testing.T) {
			e := newEnv(t, d)
			k := ecKey(t, "k1")
			e.jwks.serve(keySet(jose.JSONWebKey{Key: k.priv, KeyID: k.kid, Algorithm: "ES256"}))
			c := e.uriClient(t)
			_, err := e.auth.Authenticate(ctx, jwtCreds(c.ClientID, e.assertion(t, c, k, nil)))
			wantRefused(t, err, clientauth.ErrInvalidClient, authFailed)
			if _, err := e.auth.ClientKeys(ctx, c, ""); err == nil {
				t.Fatal("ClientKeys returned a set of private keys")
			}
		})

		t.Run("ClientKeys skips unusable keys and keeps the rest", func(t *testing.T) {
			e := newEnv(t, d)
			k := ecKey(t, "good")
			set := `{"keys":[{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0","kid":"hmac"},{"kty":"XYZ","kid":"future"},` +
				string(keySet(k.public()))[len(`{"keys":[`):]
			e.jwks.serve([]byte(set))
			c := e.uriClient(t)
			got, err := e.auth.ClientKeys(ctx, c, "good")
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Keys) != 1 || got.Keys[0].KeyID != "good" {
				t.Fatalf("got keys %+v, want only the EC key", got.Keys)
			}
			if _, err := e.auth.Authenticate(ctx, jwtCreds(c.ClientID, e.assertion(t, c, k, nil))); err != nil {
				t.Fatal(err)
			}
		})
	})
}
