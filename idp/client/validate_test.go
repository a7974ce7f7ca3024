package client_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"eidp/idp/client"
)

// webClient is a valid confidential web client of a department.
func webClient() client.Client {
	return client.Client{
		ClientName:              "Tax Department e-Filing",
		RedirectURIs:            []string{"https://tax.example.gov/callback"},
		TokenEndpointAuthMethod: client.AuthClientSecretBasic,
	}
}

// jwkSet returns a JWK set with one fresh EC P-256 key: the public half,
// or the private key itself when private is true.
func jwkSet(t *testing.T, private bool) json.RawMessage {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var key any = k.Public()
	if private {
		key = k
	}
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestValidate(t *testing.T) {
	publicJWKS, privateJWKS := jwkSet(t, false), jwkSet(t, true)
	manyURIs := make([]string, client.MaxRedirectURIs+1)
	for i := range manyURIs {
		manyURIs[i] = fmt.Sprintf("https://tax.example.gov/cb%d", i)
	}
	tests := []struct {
		name       string
		change     func(c *client.Client)
		production bool
		wantField  string // "" = valid
		wantMsg    string // a part of the message
	}{
		// Accepted.
		{name: "a confidential web client with the defaults is valid", change: func(c *client.Client) {}, production: true},
		{name: "a native app may use a reverse-domain private-use scheme", change: func(c *client.Client) {
			c.TokenEndpointAuthMethod = client.AuthNone
			c.RedirectURIs = []string{"gov.example.tax:/oauth2redirect"}
			c.SectorIdentifierURI = "https://tax.example.gov/sector.json"
		}, production: true},
		{name: "loopback http redirect URIs are allowed in development", change: func(c *client.Client) {
			c.RedirectURIs = []string{"http://127.0.0.1:8080/cb", "http://127.0.0.1/cb"}
		}},
		{name: "localhost and [::1] count as loopback in development", change: func(c *client.Client) {
			c.RedirectURIs = []string{"http://localhost:3000/cb", "http://[::1]:3000/cb"}
			c.SectorIdentifierURI = "https://tax.example.gov/sector.json"
		}},
		{name: "a client_credentials back end needs no redirect URI", change: func(c *client.Client) {
			c.RedirectURIs = nil
			c.GrantTypes = []string{client.GrantClientCredentials}
		}, production: true},
		{name: "a private_key_jwt client with an inline public JWK set is valid", change: func(c *client.Client) {
			c.TokenEndpointAuthMethod = client.AuthPrivateKeyJWT
			c.TokenEndpointAuthSigningAlg = "ES256"
			c.JWKS = publicJWKS
		}, production: true},
		{name: "a private_key_jwt client with a jwks_uri is valid", change: func(c *client.Client) {
			c.TokenEndpointAuthMethod = client.AuthPrivateKeyJWT
			c.JWKSURI = "https://tax.example.gov/jwks.json"
		}, production: true},
		{name: "a client allowed the ID card may list eidp:idcard", change: func(c *client.Client) {
			c.AllowIDCard = true
			c.Scope = "openid profile eidp:idcard"
		}, production: true},
		{name: "a pairwise client on several hosts is valid with a sector identifier", change: func(c *client.Client) {
			c.RedirectURIs = []string{"https://tax.example.gov/cb", "https://etax.example.gov/cb"}
			c.SectorIdentifierURI = "https://tax.example.gov/sector.json"
		}, production: true},
		{name: "a public-subject client may span several hosts", change: func(c *client.Client) {
			c.SubjectType = client.SubjectPublic
			c.RedirectURIs = []string{"https://tax.example.gov/cb", "https://etax.example.gov/cb"}
		}, production: true},
		{name: "a full FAPI-style bank client is valid", change: func(c *client.Client) {
			c.ClientID = "hk-bank.kyc"
			c.TokenEndpointAuthMethod = client.AuthPrivateKeyJWT
			c.TokenEndpointAuthSigningAlg = "PS256"
			c.JWKSURI = "https://bank.example.com/jwks"
			c.GrantTypes = []string{client.GrantAuthorizationCode, client.GrantRefreshToken, client.GrantClientCredentials}
			c.RedirectURIs = []string{"https://bank.example.com/cb"}
			c.PostLogoutRedirectURIs = []string{"https://bank.example.com/bye"}
			c.IDTokenSignedResponseAlg = "PS256"
			c.UserinfoSignedResponseAlg = "PS256"
			c.RequirePushedAuthorizationRequests = true
			c.BackchannelLogoutURI = "https://bank.example.com/logout"
			c.BackchannelLogoutSessionRequired = true
			c.Contacts = []string{"security@bank.example.com"}
		}, production: true},

		// Redirect URIs.
		{name: "a relative redirect URI is refused", change: func(c *client.Client) { c.RedirectURIs = []string{"/callback"} },
			wantField: "redirect_uris[0]", wantMsg: "not absolute"},
		{name: "a redirect URI with a fragment is refused", change: func(c *client.Client) { c.RedirectURIs = []string{"https://tax.example.gov/cb#x"} },
			wantField: "redirect_uris[0]", wantMsg: "fragment"},
		{name: "an empty fragment is refused too", change: func(c *client.Client) { c.RedirectURIs = []string{"https://tax.example.gov/cb#"} },
			wantField: "redirect_uris[0]", wantMsg: "fragment"},
		{name: "http is refused in production even on loopback", change: func(c *client.Client) { c.RedirectURIs = []string{"http://127.0.0.1/cb"} },
			production: true, wantField: "redirect_uris[0]", wantMsg: "production requires https"},
		{name: "http on a non-loopback host is refused in development", change: func(c *client.Client) { c.RedirectURIs = []string{"http://tax.example.gov/cb"} },
			wantField: "redirect_uris[0]", wantMsg: "not loopback"},
		{name: "a private-use scheme is refused for a confidential client", change: func(c *client.Client) { c.RedirectURIs = []string{"gov.example.tax:/cb"} },
			wantField: "redirect_uris[0]", wantMsg: "only native apps"},
		{name: "a private-use scheme must be a reversed domain name", change: func(c *client.Client) {
			c.TokenEndpointAuthMethod = client.AuthNone
			c.RedirectURIs = []string{"taxapp:/cb"}
		}, wantField: "redirect_uris[0]", wantMsg: "reversed domain name"},
		{name: "a javascript: redirect URI is refused even for a native app", change: func(c *client.Client) {
			c.TokenEndpointAuthMethod = client.AuthNone
			c.RedirectURIs = []string{"javascript:alert(1)"}
		}, wantField: "redirect_uris[0]", wantMsg: "cannot be a redirect URI"},
		{name: "a wildcard host is refused", change: func(c *client.Client) { c.RedirectURIs = []string{"https://*.example.gov/cb"} },
			wantField: "redirect_uris[0]", wantMsg: "wildcard"},
		{name: "a redirect URI with spaces is refused rather than trimmed", change: func(c *client.Client) { c.RedirectURIs = []string{"https://tax.example.gov/cb "} },
			wantField: "redirect_uris[0]", wantMsg: "spaces"},
		{name: "a redirect URI with a password is refused", change: func(c *client.Client) { c.RedirectURIs = []string{"https://u:p@tax.example.gov/cb"} },
			wantField: "redirect_uris[0]", wantMsg: "password"},
		{name: "a redirect URI listed twice is refused", change: func(c *client.Client) {
			c.RedirectURIs = []string{"https://tax.example.gov/cb", "https://tax.example.gov/cb"}
		}, wantField: "redirect_uris[1]", wantMsg: "twice"},
		{name: "more than 20 redirect URIs are refused", change: func(c *client.Client) { c.RedirectURIs = manyURIs },
			wantField: "redirect_uris", wantMsg: "at most 20"},
		{name: "the authorization_code grant needs a redirect URI", change: func(c *client.Client) { c.RedirectURIs = nil },
			wantField: "redirect_uris", wantMsg: "at least one"},
		{name: "a client_credentials-only client may not have redirect URIs", change: func(c *client.Client) { c.GrantTypes = []string{client.GrantClientCredentials} },
			wantField: "redirect_uris", wantMsg: "only with the authorization_code grant"},
		{name: "a post-logout redirect URI with a fragment is refused", change: func(c *client.Client) {
			c.PostLogoutRedirectURIs = []string{"https://tax.example.gov/bye#x"}
		}, wantField: "post_logout_redirect_uris[0]", wantMsg: "fragment"},

		// Authentication and keys.
		{name: "an unknown authentication method is refused", change: func(c *client.Client) { c.TokenEndpointAuthMethod = "client_secret_jwt" },
			wantField: "token_endpoint_auth_method", wantMsg: "not supported"},
		{name: "a public client may not use client_credentials", change: func(c *client.Client) {
			c.TokenEndpointAuthMethod = client.AuthNone
			c.GrantTypes = []string{client.GrantAuthorizationCode, client.GrantClientCredentials}
		}, wantField: "grant_types", wantMsg: "needs client authentication"},
		{name: "a public client may not be an admin", change: func(c *client.Client) {
			c.TokenEndpointAuthMethod = client.AuthNone
			c.Admin = true
		}, wantField: "admin", wantMsg: "must authenticate"},
		{name: "jwks and jwks_uri together are refused", change: func(c *client.Client) {
			c.TokenEndpointAuthMethod = client.AuthPrivateKeyJWT
			c.JWKS = publicJWKS
			c.JWKSURI = "https://tax.example.gov/jwks.json"
		}, wantField: "jwks", wantMsg: "mutually exclusive"},
		{name: "private_key_jwt without keys is refused", change: func(c *client.Client) { c.TokenEndpointAuthMethod = client.AuthPrivateKeyJWT },
			wantField: "jwks_uri", wantMsg: "needs the client's public keys"},
		{name: "a private key in jwks is refused", change: func(c *client.Client) {
			c.TokenEndpointAuthMethod = client.AuthPrivateKeyJWT
			c.JWKS = privateJWKS
		}, wantField: "jwks.keys[0]", wantMsg: "private"},
		{name: "a symmetric key in jwks is refused", change: func(c *client.Client) {
			c.TokenEndpointAuthMethod = client.AuthPrivateKeyJWT
			c.JWKS = json.RawMessage(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`)
		}, wantField: "jwks.keys[0]", wantMsg: "secret key material"},
		{name: "jwks that is a single key rather than a set is refused", change: func(c *client.Client) {
			c.TokenEndpointAuthMethod = client.AuthPrivateKeyJWT
			c.JWKS = json.RawMessage(`{"kty":"EC","crv":"P-256"}`)
		}, wantField: "jwks", wantMsg: "no keys"},
		{name: "an http jwks_uri is refused in production", change: func(c *client.Client) {
			c.TokenEndpointAuthMethod = client.AuthPrivateKeyJWT
			c.JWKSURI = "http://127.0.0.1/jwks"
		}, production: true, wantField: "jwks_uri", wantMsg: "production requires https"},
		{name: "a signing algorithm is refused for a secret-based client", change: func(c *client.Client) { c.TokenEndpointAuthSigningAlg = "ES256" },
			wantField: "token_endpoint_auth_signing_alg", wantMsg: "private_key_jwt only"},
		{name: "an HMAC assertion algorithm is refused", change: func(c *client.Client) {
			c.TokenEndpointAuthMethod = client.AuthPrivateKeyJWT
			c.JWKSURI = "https://tax.example.gov/jwks.json"
			c.TokenEndpointAuthSigningAlg = "HS256"
		}, wantField: "token_endpoint_auth_signing_alg", wantMsg: "not supported"},
		{name: "a client secret expiry other than 0 is refused", change: func(c *client.Client) { c.ClientSecretExpiresAt = 1 },
			wantField: "client_secret_expires_at", wantMsg: "must be 0"},

		// Grants and response types.
		{name: "an unknown grant type is refused", change: func(c *client.Client) { c.GrantTypes = []string{"implicit"} },
			wantField: "grant_types[0]", wantMsg: "not supported"},
		{name: "refresh_token without authorization_code is refused", change: func(c *client.Client) {
			c.RedirectURIs = nil
			c.GrantTypes = []string{client.GrantClientCredentials, client.GrantRefreshToken}
		}, wantField: "grant_types", wantMsg: "needs authorization_code"},
		{name: "a response type other than code is refused", change: func(c *client.Client) { c.ResponseTypes = []string{"code id_token"} },
			wantField: "response_types[0]", wantMsg: "authorization code flow only"},
		{name: "response type code without its grant is refused", change: func(c *client.Client) {
			c.RedirectURIs = nil
			c.GrantTypes = []string{client.GrantClientCredentials}
			c.ResponseTypes = []string{"code"}
		}, wantField: "response_types", wantMsg: "RFC 7591 §2.1"},

		// Signing algorithms and subjects.
		{name: "an unknown ID token algorithm is refused", change: func(c *client.Client) { c.IDTokenSignedResponseAlg = "HS256" },
			wantField: "id_token_signed_response_alg", wantMsg: "ES256, RS256, PS256"},
		{name: "an unsigned userinfo algorithm name is refused", change: func(c *client.Client) { c.UserinfoSignedResponseAlg = "none" },
			wantField: "userinfo_signed_response_alg", wantMsg: "not supported"},
		{name: "an unknown subject type is refused", change: func(c *client.Client) { c.SubjectType = "global" },
			wantField: "subject_type", wantMsg: "pairwise"},
		{name: "a pairwise client on several hosts needs a sector identifier", change: func(c *client.Client) {
			c.RedirectURIs = []string{"https://tax.example.gov/cb", "https://etax.example.gov/cb"}
		}, wantField: "sector_identifier_uri", wantMsg: "redirect URIs on tax.example.gov and etax.example.gov"},
		{name: "a pairwise native app with a private-use scheme needs a sector identifier", change: func(c *client.Client) {
			c.TokenEndpointAuthMethod = client.AuthNone
			c.RedirectURIs = []string{"gov.example.tax:/cb"}
		}, wantField: "sector_identifier_uri", wantMsg: "no host"},
		{name: "an http sector identifier is refused even in development", change: func(c *client.Client) {
			c.SectorIdentifierURI = "http://localhost/sector.json"
		}, wantField: "sector_identifier_uri", wantMsg: "must use https"},
		{name: "a sector identifier with a public subject type is refused", change: func(c *client.Client) {
			c.SubjectType = client.SubjectPublic
			c.SectorIdentifierURI = "https://tax.example.gov/sector.json"
		}, wantField: "sector_identifier_uri", wantMsg: "only for pairwise"},

		// Scopes.
		{name: "the ID-card scope without allow_id_card is refused", change: func(c *client.Client) { c.Scope = "openid eidp:idcard" },
			wantField: "scope", wantMsg: "needs allow_id_card"},
		{name: "an unknown eidp scope is refused", change: func(c *client.Client) { c.Scope = "openid eidp:id_card" },
			wantField: "scope", wantMsg: "not an eidp scope"},
		{name: "the admin scope without admin is refused", change: func(c *client.Client) {
			c.RedirectURIs = nil
			c.GrantTypes = []string{client.GrantClientCredentials}
			c.Scope = client.ScopeAdmin
		}, wantField: "scope", wantMsg: "needs admin: true"},
		{name: "an admin client_credentials client may list the admin scope", change: func(c *client.Client) {
			c.RedirectURIs = nil
			c.GrantTypes = []string{client.GrantClientCredentials}
			c.Admin = true
			c.Scope = client.ScopeAdmin
		}, production: true},
		{name: "scopes separated by two spaces are refused", change: func(c *client.Client) { c.Scope = "openid  profile" },
			wantField: "scope", wantMsg: "single spaces"},
		{name: "a scope with a quote is refused", change: func(c *client.Client) { c.Scope = `openid pro"file` },
			wantField: "scope", wantMsg: "RFC 6749 §3.3"},

		// Logout and PAR.
		{name: "backchannel_logout_session_required without a URI is refused", change: func(c *client.Client) { c.BackchannelLogoutSessionRequired = true },
			wantField: "backchannel_logout_session_required", wantMsg: "needs a backchannel_logout_uri"},
		{name: "a back-channel logout URI with a fragment is refused", change: func(c *client.Client) {
			c.BackchannelLogoutURI = "https://tax.example.gov/logout#now"
		}, wantField: "backchannel_logout_uri", wantMsg: "fragment"},
		{name: "requiring PAR without the authorization_code grant is refused", change: func(c *client.Client) {
			c.RedirectURIs = nil
			c.GrantTypes = []string{client.GrantClientCredentials}
			c.RequirePushedAuthorizationRequests = true
		}, wantField: "require_pushed_authorization_requests", wantMsg: "RFC 9126 §6"},

		// Names, IDs, contacts.
		{name: "a client without a name is refused", change: func(c *client.Client) { c.ClientName = "  " },
			wantField: "client_name", wantMsg: "consent page"},
		{name: "a name over 100 characters is refused", change: func(c *client.Client) { c.ClientName = strings.Repeat("稅", 101) },
			wantField: "client_name", wantMsg: "at most 100"},
		{name: "a name with a line break is refused", change: func(c *client.Client) { c.ClientName = "Tax\nDepartment" },
			wantField: "client_name", wantMsg: "control characters"},
		{name: "a consent page with logo, links, purpose and Chinese variants is valid", change: func(c *client.Client) {
			c.ClientNameZH = "稅務局電子報稅"
			c.ClientURI = "https://tax.example.gov/"
			c.LogoURI = "https://tax.example.gov/logo.png"
			c.PolicyURI = "https://tax.example.gov/privacy"
			c.TOSURI = "https://tax.example.gov/terms"
			c.Purpose = "To file your salaries tax return for you."
			c.PurposeZH = "為你提交薪俸稅報稅表。"
		}, production: true},
		{name: "a loopback http logo is allowed in development", change: func(c *client.Client) { c.LogoURI = "http://localhost:8081/logo.png" }},
		{name: "a Chinese name over 100 characters is refused", change: func(c *client.Client) { c.ClientNameZH = strings.Repeat("稅", 101) },
			wantField: "client_name#zh-Hant", wantMsg: "at most 100"},
		{name: "a blank Chinese name is refused", change: func(c *client.Client) { c.ClientNameZH = " " },
			wantField: "client_name#zh-Hant", wantMsg: "blank"},
		{name: "a Chinese name with a tab is refused", change: func(c *client.Client) { c.ClientNameZH = "稅務局\t報稅" },
			wantField: "client_name#zh-Hant", wantMsg: "control characters"},
		{name: "a name with a bidirectional override is refused", change: func(c *client.Client) { c.ClientName = "Tax \u202eeciffO" },
			wantField: "client_name", wantMsg: "bidirectional"},
		{name: "a purpose over 300 characters is refused", change: func(c *client.Client) { c.Purpose = strings.Repeat("a", 301) },
			wantField: "eidp_purpose", wantMsg: "at most 300"},
		{name: "a purpose of exactly 300 characters is accepted", change: func(c *client.Client) { c.Purpose = strings.Repeat("稅", 300) }},
		{name: "a blank purpose is refused", change: func(c *client.Client) { c.Purpose = "   " },
			wantField: "eidp_purpose", wantMsg: "blank"},
		{name: "a purpose on two lines is refused", change: func(c *client.Client) { c.Purpose = "To file\nyour tax." },
			wantField: "eidp_purpose", wantMsg: "control characters"},
		{name: "a purpose with a Unicode line separator is refused", change: func(c *client.Client) { c.Purpose = "To file\u2028your tax." },
			wantField: "eidp_purpose", wantMsg: "one line"},
		{name: "a Chinese purpose with an escape character is refused", change: func(c *client.Client) {
			c.Purpose = "To file your tax."
			c.PurposeZH = "報稅\x1b[31m"
		}, wantField: "eidp_purpose#zh-Hant", wantMsg: "control characters"},
		{name: "a Chinese purpose over 300 characters is refused", change: func(c *client.Client) {
			c.Purpose = "To file your tax."
			c.PurposeZH = strings.Repeat("稅", 301)
		}, wantField: "eidp_purpose#zh-Hant", wantMsg: "at most 300"},
		{name: "a Chinese purpose without the untagged one is refused", change: func(c *client.Client) { c.PurposeZH = "為你報稅。" },
			wantField: "eidp_purpose#zh-Hant", wantMsg: "untagged eidp_purpose"},
		{name: "a relative logo URI is refused", change: func(c *client.Client) { c.LogoURI = "/logo.png" },
			wantField: "logo_uri", wantMsg: "not absolute"},
		{name: "an http logo is refused in production", change: func(c *client.Client) { c.LogoURI = "http://localhost/logo.png" },
			production: true, wantField: "logo_uri", wantMsg: "production requires https"},
		{name: "an http client URI on a real host is refused in development", change: func(c *client.Client) { c.ClientURI = "http://tax.example.gov/" },
			wantField: "client_uri", wantMsg: "not loopback"},
		{name: "a data: logo is refused", change: func(c *client.Client) { c.LogoURI = "data:image/png;base64,AAAA" },
			wantField: "logo_uri", wantMsg: "must use https"},
		{name: "a policy URI with a fragment is refused", change: func(c *client.Client) { c.PolicyURI = "https://tax.example.gov/privacy#data" },
			wantField: "policy_uri", wantMsg: "fragment"},
		{name: "a terms URI over 2000 characters is refused", change: func(c *client.Client) {
			c.TOSURI = "https://tax.example.gov/" + strings.Repeat("t", 2000)
		}, wantField: "tos_uri", wantMsg: "at most 2000"},
		{name: "a javascript: client URI is refused", change: func(c *client.Client) { c.ClientURI = "javascript:alert(1)" },
			wantField: "client_uri", wantMsg: "must use https"},
		{name: "a requested client ID with a colon is refused", change: func(c *client.Client) { c.ClientID = "tax:efiling" },
			wantField: "client_id", wantMsg: "not a valid client ID"},
		{name: "a contact that is not an e-mail address is refused", change: func(c *client.Client) { c.Contacts = []string{"Tax IT <it@tax.example.gov>"} },
			wantField: "contacts[0]", wantMsg: "not an e-mail address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := webClient()
			tt.change(&c)
			err := c.WithDefaults().Validate(client.Options{Production: tt.production})
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			var verr *client.ValidationError
			if !errors.As(err, &verr) || !errors.Is(err, client.ErrInvalidMetadata) {
				t.Fatalf("want a *ValidationError wrapping ErrInvalidMetadata, got %v", err)
			}
			if verr.Field != tt.wantField || !strings.Contains(verr.Msg, tt.wantMsg) {
				t.Fatalf("want field %s with %q, got %s: %s", tt.wantField, tt.wantMsg, verr.Field, verr.Msg)
			}
			if !strings.Contains(err.Error(), tt.wantField) {
				t.Errorf("the message does not name the field: %v", err)
			}
		})
	}
}

func TestValidationErrorCodes(t *testing.T) {
	for _, tt := range []struct {
		field, code string
	}{
		{"redirect_uris", client.CodeInvalidRedirectURI},
		{"redirect_uris[3]", client.CodeInvalidRedirectURI},
		{"post_logout_redirect_uris[0]", client.CodeInvalidClientMetadata},
		{"jwks", client.CodeInvalidClientMetadata},
	} {
		if got := (&client.ValidationError{Field: tt.field}).Code(); got != tt.code {
			t.Errorf("%s: code %s, want %s", tt.field, got, tt.code)
		}
	}
}

func TestWithDefaultsFillsTheRegistrationDefaults(t *testing.T) {
	c := client.Client{ClientName: "x", RedirectURIs: []string{"https://a.example/cb"}, JWKS: json.RawMessage("null")}.WithDefaults()
	if strings.Join(c.GrantTypes, " ") != "authorization_code" || strings.Join(c.ResponseTypes, " ") != "code" ||
		c.TokenEndpointAuthMethod != client.AuthClientSecretBasic || c.IDTokenSignedResponseAlg != "ES256" ||
		c.SubjectType != client.SubjectPairwise || c.Scope != "openid" || c.JWKS != nil {
		t.Fatalf("defaults: %+v", c)
	}
	cc := client.Client{ClientName: "x", GrantTypes: []string{client.GrantClientCredentials}}.WithDefaults()
	if cc.ResponseTypes != nil || cc.Scope != "" {
		t.Fatalf("a client_credentials client gets no response types or openid scope: %+v", cc)
	}
}

func TestParseMetadataNamesTheFieldItCannotRead(t *testing.T) {
	for _, tt := range []struct {
		name, doc, field, msg string
	}{
		{"a misspelt name is refused", `{"client_name":"x","redirect_uri":["https://a.example/cb"]}`, "redirect_uri", "check its spelling"},
		{"a client secret is refused", `{"client_name":"x","client_secret":"hunter2"}`, "client_secret", "eidp generates client secrets"},
		{"a string where a list belongs is refused", `{"redirect_uris":"https://a.example/cb"}`, "redirect_uris", "an array of strings"},
		{"a string where a boolean belongs is refused", `{"allow_id_card":"yes"}`, "allow_id_card", "true or false"},
		{"broken JSON is refused", `{"client_name":`, "metadata", "not valid JSON"},
		{"two documents are refused", `{} {}`, "metadata", "more than one"},
		{"a name in an unsupported language is refused", `{"client_name":"x","client_name#fr":"Impôts"}`, "client_name#fr", `language tag "fr" is not supported`},
		{"a purpose in simplified Chinese is refused, pointing to zh-Hant", `{"eidp_purpose#zh-Hans":"报税"}`, "eidp_purpose#zh-Hans", "eidp_purpose#zh-Hant"},
		{"a language-tagged logo is refused", `{"logo_uri#zh-Hant":"https://a.example/l.png"}`, "logo_uri#zh-Hant", "give one logo_uri"},
		{"a tag on an unknown name is an unknown name", `{"client_nam#zh-Hant":"x"}`, "client_nam#zh-Hant", "check its spelling"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.ParseMetadata([]byte(tt.doc))
			var verr *client.ValidationError
			if !errors.As(err, &verr) || verr.Field != tt.field || !strings.Contains(verr.Msg, tt.msg) {
				t.Fatalf("want %s: …%s…, got %v", tt.field, tt.msg, err)
			}
		})
	}
}

func TestTheJSONFormRoundTripsAndNeverHoldsTheHash(t *testing.T) {
	c := webClient().WithDefaults()
	c.ClientID = "tax-efiling"
	c.ClientSecretHash = "0123abcd"
	c.JWKS = jwkSet(t, false)
	c.ClientNameZH, c.Purpose, c.PurposeZH = "稅務局電子報稅", "To file your tax return.", "為你提交報稅表。"
	c.LogoURI, c.ClientURI, c.PolicyURI, c.TOSURI = "https://tax.example.gov/l.png", "https://tax.example.gov/", "https://tax.example.gov/p", "https://tax.example.gov/t"
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "0123abcd") || strings.Contains(string(b), "client_secret_hash") {
		t.Fatalf("the hash leaked into JSON: %s", b)
	}
	for _, name := range []string{`"client_name#zh-Hant":`, `"eidp_purpose":`, `"eidp_purpose#zh-Hant":`, `"logo_uri":`, `"client_uri":`, `"policy_uri":`, `"tos_uri":`} {
		if !strings.Contains(string(b), name) {
			t.Errorf("the JSON form lacks %s: %s", name, b)
		}
	}
	if !strings.Contains(string(b), `"client_secret_expires_at":0`) {
		t.Fatalf("a secret client's JSON lacks client_secret_expires_at: %s", b)
	}
	back, err := client.ParseMetadata(b)
	if err != nil {
		t.Fatalf("the JSON form does not parse back: %v", err)
	}
	back.ClientSecretHash = c.ClientSecretHash
	b2, _ := json.Marshal(back)
	if string(b) != string(b2) {
		t.Fatalf("round trip changed the client:\n%s\n%s", b, b2)
	}

	c.TokenEndpointAuthMethod = client.AuthPrivateKeyJWT
	b, _ = json.Marshal(c)
	if strings.Contains(string(b), "client_secret_expires_at") {
		t.Fatalf("a client without a secret has client_secret_expires_at: %s", b)
	}
}

func TestParseMetadataReadsTheLanguageTaggedFieldsWhateverTheirCase(t *testing.T) {
	// RFC 5646 §2.1.1: language tags are case-insensitive.
	c, err := client.ParseMetadata([]byte(`{"client_name":"Tax","client_name#ZH-HANT":"稅務局","eidp_purpose":"To file.","eidp_purpose#zh-hant":"報稅。"}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.ClientNameZH != "稅務局" || c.PurposeZH != "報稅。" {
		t.Fatalf("tagged fields not read: %+v", c)
	}
}

func TestLocalizedPicksTheChineseVariantForAnyChineseTag(t *testing.T) {
	full := client.Client{ClientName: "Tax", ClientNameZH: "稅務局", Purpose: "To file.", PurposeZH: "報稅。"}
	nameOnly := client.Client{ClientName: "Tax", Purpose: "To file."}
	zhNameOnly := client.Client{ClientName: "Tax", ClientNameZH: "稅務局"}
	for _, tt := range []struct {
		c                  client.Client
		lang               string
		wantName, wantPurp string
	}{
		{full, "zh-Hant", "稅務局", "報稅。"},
		{full, "zh-hant-HK", "稅務局", "報稅。"},
		{full, "zh", "稅務局", "報稅。"},
		{full, "ZH_TW", "稅務局", "報稅。"},
		{full, "en", "Tax", "To file."},
		{full, "", "Tax", "To file."},
		{full, "zha", "Tax", "To file."}, // Zhuang, not Chinese
		{nameOnly, "zh-Hant", "Tax", "To file."},
		{zhNameOnly, "zh-Hant", "稅務局", ""},
	} {
		name, purpose := tt.c.Localized(tt.lang)
		if name != tt.wantName || purpose != tt.wantPurp {
			t.Errorf("%+v.Localized(%q) = %q, %q; want %q, %q", tt.c, tt.lang, name, purpose, tt.wantName, tt.wantPurp)
		}
	}
}

func TestSectorIdentifierIsTheHostOfTheSectorURIOrOfTheRedirects(t *testing.T) {
	c := webClient()
	if got := c.SectorIdentifier(); got != "tax.example.gov" {
		t.Errorf("from redirect URIs: %q", got)
	}
	c.SectorIdentifierURI = "https://sector.example.gov/s.json"
	if got := c.SectorIdentifier(); got != "sector.example.gov" {
		t.Errorf("from sector_identifier_uri: %q", got)
	}
}

func TestIsScopeAllowedNeedsAllowIDCardForTheIDCardScope(t *testing.T) {
	c := client.Client{Scope: "openid eidp:idcard"}
	if c.IsScopeAllowed(client.ScopeIDCard) {
		t.Fatal("eidp:idcard allowed without allow_id_card")
	}
	c.AllowIDCard = true
	if !c.IsScopeAllowed(client.ScopeIDCard) || !c.IsScopeAllowed("openid") || c.IsScopeAllowed("profile") {
		t.Fatal("IsScopeAllowed does not follow the scope list")
	}
	a := client.Client{Scope: client.ScopeAdmin}
	if a.IsScopeAllowed(client.ScopeAdmin) {
		t.Fatal("eidp:admin allowed without admin")
	}
	a.Admin = true
	if !a.IsScopeAllowed(client.ScopeAdmin) {
		t.Fatal("eidp:admin refused to an admin client that lists it")
	}
}
