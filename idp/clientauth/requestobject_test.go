package clientauth_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"eidp/idp/client"
	"eidp/idp/clientauth"
	"eidp/internal/db"
	"eidp/internal/testenv"
)

// requestClaims is a valid request object of client id (RFC 9101 §4).
func requestClaims(id string, now time.Time) map[string]any {
	return map[string]any{
		"iss":           id,
		"aud":           issuer,
		"exp":           now.Add(10 * time.Minute).Unix(),
		"iat":           now.Unix(),
		"client_id":     id,
		"response_type": "code",
		"redirect_uri":  "https://app.example.gov/callback",
		"scope":         "openid",
		"state":         "af0ifjsldkj",
		"nonce":         "n-0S6_WzA2Mj",
		"max_age":       300,
		"claims":        map[string]any{"id_token": map[string]any{"acr": map[string]any{"essential": true}}},
	}
}

func TestVerifyRequestObject(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		e := newEnv(t, d)
		k := ecKey(t, "ro-1")
		c, _ := e.create(t, client.Client{
			TokenEndpointAuthMethod: client.AuthNone,
			GrantTypes:              []string{client.GrantAuthorizationCode},
			RedirectURIs:            []string{"https://app.example.gov/callback"},
			JWKS:                    keySet(k.public()),
		})
		now := e.clock.Now()

		t.Run("a valid request object gives its claims", func(t *testing.T) {
			got, err := e.auth.VerifyRequestObject(ctx, c, sign(t, k, "oauth-authz-req+jwt", requestClaims(c.ClientID, now)))
			if err != nil {
				t.Fatal(err)
			}
			if got["scope"] != "openid" || got["redirect_uri"] != "https://app.example.gov/callback" || got["client_id"] != c.ClientID {
				t.Fatalf("claims %v", got)
			}
			if got["max_age"] != json.Number("300") {
				t.Fatalf("max_age %#v, want json.Number 300", got["max_age"])
			}
			want := map[string]any{"id_token": map[string]any{"acr": map[string]any{"essential": true}}}
			if !reflect.DeepEqual(got["claims"], want) {
				t.Fatalf("claims parameter %#v, want %#v", got["claims"], want)
			}
		})

		t.Run("a request object from a client with jwks_uri verifies", func(t *testing.T) {
			rk := rsaKey(t, 0, jose.PS256, "rsa-ro")
			e.jwks.serve(keySet(rk.public()))
			uc, _ := e.create(t, client.Client{
				TokenEndpointAuthMethod: client.AuthPrivateKeyJWT,
				GrantTypes:              []string{client.GrantAuthorizationCode},
				RedirectURIs:            []string{"https://app.example.gov/callback"},
				JWKSURI:                 e.jwks.URL + "/jwks.json",
			})
			got, err := e.auth.VerifyRequestObject(ctx, uc, sign(t, rk, "", requestClaims(uc.ClientID, now)))
			if err != nil {
				t.Fatal(err)
			}
			if got["iss"] != uc.ClientID {
				t.Fatalf("iss %v", got["iss"])
			}
		})

		for _, tc := range []struct {
			name  string
			edit  func(map[string]any)
			token func(map[string]any) string // nil: signed with k
			want  string
		}{
			{name: "a wrong aud is refused", edit: func(m map[string]any) { m["aud"] = "https://other.example" }, want: "aud must contain the issuer"},
			{name: "the token endpoint as aud is refused", edit: func(m map[string]any) { m["aud"] = tokenEndpoint }, want: "aud must contain the issuer"},
			{name: "an aud array with the issuer is accepted", edit: func(m map[string]any) { m["aud"] = []string{"https://other.example", issuer} }},
			{name: "an unsigned request object is refused", token: func(m map[string]any) string { return unsigned(t, k.kid, m) }, want: `alg "none"`},
			{name: "an HS256 request object is refused", token: func(m map[string]any) string {
				return signWith(t, jose.SigningKey{Algorithm: jose.HS256, Key: []byte(strings.Repeat("k", 32))}, "", m)
			}, want: `alg "HS256"`},
			{name: "a request object signed by another key is refused", token: func(m map[string]any) string { return sign(t, ecKey(t, k.kid), "", m) }, want: "does not verify"},
			{name: "a request object under an unknown kid is refused", token: func(m map[string]any) string { return sign(t, ecKey(t, "other"), "", m) }, want: "no key of the client matches"},
			{name: "an encrypted request object is refused", token: func(m map[string]any) string { return encrypted(t, &rsaKeys[0].PublicKey, m) }, want: "encrypted (JWE)"},
			{name: "an expired request object is refused", edit: func(m map[string]any) {
				m["exp"] = now.Add(-time.Minute).Unix()
				m["iat"] = now.Add(-5 * time.Minute).Unix()
			}, want: "expired"},
			{name: "a request object without exp is refused", edit: func(m map[string]any) { delete(m, "exp") }, want: "no exp"},
			{name: "a request object valid for two hours is refused", edit: func(m map[string]any) { m["exp"] = now.Add(2 * time.Hour).Unix() }, want: "too far ahead"},
			{name: "an nbf in the future is refused", edit: func(m map[string]any) { m["nbf"] = now.Add(time.Minute).Unix() }, want: "not valid before"},
			{name: "another iss is refused", edit: func(m map[string]any) { m["iss"] = "someone-else" }, want: "iss must be the client_id"},
			{name: "no iss is refused", edit: func(m map[string]any) { delete(m, "iss") }, want: "iss must be the client_id"},
			{name: "another client_id is refused", edit: func(m map[string]any) { m["client_id"] = "someone-else" }, want: "client_id is not the client's"},
			{name: "a non-string client_id is refused", edit: func(m map[string]any) { m["client_id"] = 7 }, want: "client_id is not the client's"},
			{name: "a request object without client_id is accepted", edit: func(m map[string]any) { delete(m, "client_id") }},
			{name: "a nested request_uri is refused", edit: func(m map[string]any) { m["request_uri"] = "urn:ietf:params:oauth:request_uri:x" }, want: "must not contain request_uri"},
			{name: "a nested request is refused", edit: func(m map[string]any) { m["request"] = "a.b.c" }, want: "must not contain request"},
			{name: "a client assertion used as a request object is refused", token: func(m map[string]any) string { return sign(t, k, "client-authentication+jwt", m) }, want: "a client assertion"},
			{name: "an oversized request object is refused", edit: func(m map[string]any) { m["pad"] = strings.Repeat("p", 70<<10) }, want: "larger than"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				claims := requestClaims(c.ClientID, now)
				if tc.edit != nil {
					tc.edit(claims)
				}
				var token string
				if tc.token != nil {
					token = tc.token(claims)
				} else {
					token = sign(t, k, "", claims)
				}
				got, err := e.auth.VerifyRequestObject(ctx, c, token)
				if tc.want == "" {
					if err != nil {
						t.Fatal(err)
					}
					if got["state"] != "af0ifjsldkj" {
						t.Fatalf("claims %v", got)
					}
					return
				}
				wantRefused(t, err, clientauth.ErrInvalidRequestObject, tc.want)
				if got != nil {
					t.Fatalf("a refused request object returned claims %v", got)
				}
			})
		}

		t.Run("a client without keys cannot send request objects", func(t *testing.T) {
			pub := e.publicClient(t)
			_, err := e.auth.VerifyRequestObject(ctx, pub, sign(t, k, "", requestClaims(pub.ClientID, now)))
			wantRefused(t, err, clientauth.ErrInvalidRequestObject, "no usable public keys")
		})
	})
}
