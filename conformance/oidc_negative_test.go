package conformance

// Negative tests of the OpenID Provider, each named after the OpenID
// Foundation conformance-suite module it mirrors (oidcc-* from the OpenID
// Connect Core plans; fapi*-<suffix> where the module is from the FAPI
// plans, which test PAR, PKCE and private_key_jwt, and whose module names
// carry a plan prefix such as fapi1-advanced-final- or
// fapi2-security-profile-). Like the suite, they act as a
// relying party and a browser would: stock go-oidc, x/oauth2 and go-jose on
// the client side, plain net/http where a library would hide the answer.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
)

// People of the demo civil register (idp/proofing/demo_register.json) that
// no other test uses; each test that logs in has its own server anyway.
var (
	tsangHoMing  = person{"B147962(3)", "1988-10-30", "TSANG Ho Ming", "TSANG Ho Ming"}
	lauWingTung  = person{"P555584(5)", "1932-09-06", "LAU Wing Tung", "LAU Wing Tung"}
	loHeiSum     = person{"C521209(8)", "1987-05-15", "LO Hei Sum", "LO Hei Sum"}
	soRaymondYiu = person{"M548833(3)", "1970-04-11", "SO Raymond Yiu", "SO Raymond Yiu"}
)

// TestOIDCC_EnsureRegisteredRedirectURI mirrors
// oidcc-ensure-registered-redirect-uri and
// oidcc-ensure-redirect-uri-in-authorization-request: a redirect_uri that
// is not exactly a registered one (RFC 6749 §3.1.2.4, OIDC Core §3.1.2.1:
// simple string comparison) — or none at all — gets eidp's error page; the
// browser is never sent to the unregistered URI, not even with the error.
func TestOIDCC_EnsureRegisteredRedirectURI(t *testing.T) {
	srv := ownServer(t)
	dept := newRP(t, srv, "127.0.0.1", nil)
	registered := dept.URL + "/cb"
	port := dept.URL[strings.LastIndex(dept.URL, ":")+1:]
	otherPort, _ := strconv.Atoi(port)

	// The registered URI itself is accepted: without a session the
	// browser goes to log in, so the variations below fail for their
	// variation only.
	u, _ := dept.authURL()
	if resp, _ := getNoFollow(t, u); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?") {
		t.Fatalf("the registered redirect_uri: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	tb := newTab(t, srv.URL)
	for _, tc := range []struct{ name, redirectURI string }{
		{"another origin", "https://attacker.example/cb"},
		{"an extra query parameter", registered + "?extra=1"},
		{"a longer path", registered + "/more"},
		{"a trailing slash", registered + "/"},
		{"the path in upper case", dept.URL + "/CB"},
		{"another port", strings.Replace(registered, ":"+port+"/", ":"+strconv.Itoa(otherPort+1)+"/", 1)},
		{"https instead of http", strings.Replace(registered, "http://", "https://", 1)},
		{"a fragment", registered + "#frag"},
		{"no redirect_uri (oidcc-ensure-redirect-uri-in-authorization-request)", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, _ := dept.authURL()
			pu, _ := url.Parse(u)
			q := pu.Query()
			if tc.redirectURI == "" {
				q.Del("redirect_uri")
			} else {
				q.Set("redirect_uri", tc.redirectURI)
			}
			pu.RawQuery = q.Encode()
			u = pu.String()

			code, body := errorPage(t, u)
			if code != "invalid_request" {
				t.Fatalf("error page code %q, want invalid_request", code)
			}
			if tc.redirectURI != "" && strings.Contains(body, `href="`+tc.redirectURI) {
				t.Fatal("the error page links to the unregistered redirect_uri")
			}
			// In the browser: it stays at eidp, on the error page.
			tb.visit(u)
			got := tb.waitFor("the error page", `location.origin === `+jsString(srv.URL)+` && document.readyState === "complete" &&
				location.pathname === "/authorize" && (document.querySelector("#error-code") || {}).textContent`)
			if got != "invalid_request" {
				tb.fatalf("the browser's error page shows %q, want invalid_request", got)
			}
		})
	}
}

// TestOIDCC_PromptNoneNotLoggedIn mirrors oidcc-prompt-none-not-logged-in:
// a browser without a session, prompt=none: the answer comes straight back
// with error=login_required (OIDC Core §3.1.2.6), state and iss (RFC 9207).
func TestOIDCC_PromptNoneNotLoggedIn(t *testing.T) {
	srv := ownServer(t)
	dept := newRP(t, srv, "127.0.0.1", nil)
	tb := newTab(t, srv.URL)
	u, a := dept.authURL(oauth2.SetAuthURLParam("prompt", "none"))
	tb.visit(u)
	q := dept.callback(tb, a)
	if q.Get("error") != "login_required" || q.Get("code") != "" {
		t.Fatalf("prompt=none without a session: %v", q)
	}
}

// TestOIDCC_PKCERequired: PKCE with S256 is required of every client,
// confidential or public (RFC 7636 §4.4.1; OAuth 2.0 Security BCP §2.1.1;
// mirrors the FAPI plans' PKCE-required and plain-PKCE-rejected modules). A missing challenge, method plain, or a challenge
// without a method (which RFC 7636 §4.3 reads as plain) is an error
// redirect with invalid_request, state and iss; at the PAR endpoint a 400
// with invalid_request (RFC 9126 §2.3). The wrong code_verifier is in
// TestOIDCC_CodeAndRefreshTokenReuse, which has a session to get codes.
func TestOIDCC_PKCERequired(t *testing.T) {
	srv := ownServer(t)
	confidential := newRP(t, srv, "127.0.0.1", nil)
	public := newRP(t, srv, "127.0.0.1", map[string]any{"token_endpoint_auth_method": "none"})
	for _, dept := range []*rp{confidential, public} {
		kind := "confidential"
		if dept == public {
			kind = "public"
		}
		verifier := oauth2.GenerateVerifier()
		for _, tc := range []struct {
			name string
			opts []oauth2.AuthCodeOption
		}{
			{"no code_challenge", nil},
			{"code_challenge_method plain", []oauth2.AuthCodeOption{
				oauth2.SetAuthURLParam("code_challenge", verifier), oauth2.SetAuthURLParam("code_challenge_method", "plain")}},
			{"a challenge without a method (plain by RFC 7636 §4.3)", []oauth2.AuthCodeOption{
				oauth2.SetAuthURLParam("code_challenge", oauth2.S256ChallengeFromVerifier(verifier))}},
			{"an unknown method", []oauth2.AuthCodeOption{
				oauth2.SetAuthURLParam("code_challenge", oauth2.S256ChallengeFromVerifier(verifier)), oauth2.SetAuthURLParam("code_challenge_method", "S512")}},
		} {
			t.Run(kind+" client/"+tc.name, func(t *testing.T) {
				state := randomValue()
				u := dept.config.AuthCodeURL(state, append([]oauth2.AuthCodeOption{oidc.Nonce(randomValue())}, tc.opts...)...)
				if q := dept.errorRedirect(t, u, state); q.Get("error") != "invalid_request" {
					t.Fatalf("authorization %s: %v", tc.name, q)
				}
			})
		}
		if dept == public {
			continue // the PAR endpoint is for clients that authenticate
		}
		for _, tc := range []struct {
			name  string
			extra url.Values
		}{
			{"PAR without code_challenge", url.Values{"code_challenge": {""}, "code_challenge_method": {""}}},
			{"PAR with method plain", url.Values{"code_challenge": {verifier}, "code_challenge_method": {"plain"}}},
		} {
			_, a := dept.authURL()
			status, m := dept.push(a, tc.extra)
			if status != http.StatusBadRequest || m["error"] != "invalid_request" || m["request_uri"] != nil {
				t.Errorf("%s: %d %v", tc.name, status, m)
			}
		}
	}
}

// TestOIDCC_CodeAndRefreshTokenReuse mirrors oidcc-codereuse: a code
// redeemed twice fails with invalid_grant, and the tokens of its first
// redemption stop working (RFC 6749 §4.1.2: the server SHOULD revoke them;
// DESIGN: it does). Then the code-binding checks of the token endpoint
// (fapi*-incorrect-pkce-code-verifier-rejected,
// fapi*-ensure-pkce-code-verifier-required; RFC 6749 §4.1.3 redirect_uri), and
// a public client: PKCE (above) and refresh-token rotation, where a rotated
// token presented again kills the grant (OAuth 2.0 Security BCP §4.14.2).
func TestOIDCC_CodeAndRefreshTokenReuse(t *testing.T) {
	srv := ownServer(t)
	tb := newTab(t, srv.URL)
	tb.addAuthenticator()
	tb.register(tsangHoMing)
	ctx := context.Background()

	dept := newRP(t, srv, "127.0.0.1", nil)
	// The credentials go in the header, always: with x/oauth2's
	// auto-detection a refused request is retried in the body, and the
	// answer to the retry would be the one seen.
	dept.config.Endpoint.AuthStyle = oauth2.AuthStyleInHeader

	q, a := dept.authorize(tb, nil)
	tok, _ := dept.exchange(q, a)
	if status, _, _ := callUserinfo(t, srv, tok.AccessToken); status != http.StatusOK {
		t.Fatalf("userinfo with a fresh access token: %d", status)
	}
	_, err := dept.config.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(a.verifier))
	wantOAuthError(t, "the code redeemed a second time", err, "invalid_grant")
	if status, h, _ := callUserinfo(t, srv, tok.AccessToken); status != http.StatusUnauthorized || !strings.Contains(h.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("userinfo with the access token of a reused code: %d %q", status, h.Get("WWW-Authenticate"))
	}
	_, err = dept.config.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	wantOAuthError(t, "refreshing with the refresh token of a reused code", err, "invalid_grant")

	// The consent is remembered from here on: each authorization comes
	// straight back with a code.
	for _, tc := range []struct {
		name string
		opts []oauth2.AuthCodeOption
	}{
		{"a wrong code_verifier", []oauth2.AuthCodeOption{oauth2.VerifierOption(oauth2.GenerateVerifier())}},
		{"no code_verifier", nil},
		{"a code_verifier that is too short (RFC 7636 §4.1)", []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("code_verifier", "short")}},
		{"another redirect_uri", nil}, // set below: it needs the verifier
	} {
		q, a := dept.authorize(tb, nil)
		opts := tc.opts
		if tc.name == "another redirect_uri" {
			opts = []oauth2.AuthCodeOption{oauth2.VerifierOption(a.verifier), oauth2.SetAuthURLParam("redirect_uri", dept.URL+"/cb?x=1")}
		}
		_, err := dept.config.Exchange(ctx, q.Get("code"), opts...)
		wantOAuthError(t, tc.name, err, "invalid_grant")
		// A code whose redemption failed is spent: the right verifier
		// does not revive it (RFC 6749 §4.1.2: single use).
		_, err = dept.config.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(a.verifier))
		wantOAuthError(t, "the right verifier after "+tc.name, err, "invalid_grant")
	}

	// A public client (token_endpoint_auth_method none): rotation.
	pub := newRP(t, srv, "localhost", map[string]any{"token_endpoint_auth_method": "none"})
	pub.config.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	q, a = pub.authorize(tb, nil)
	first, _ := pub.exchange(q, a)
	if first.RefreshToken == "" {
		t.Fatal("the public client got no refresh token")
	}
	second, err := pub.config.TokenSource(ctx, &oauth2.Token{RefreshToken: first.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("refresh of the public client: %v", err)
	}
	if second.RefreshToken == "" || second.RefreshToken == first.RefreshToken {
		t.Fatal("the public client's refresh token was not rotated")
	}
	if status, _, _ := callUserinfo(t, srv, second.AccessToken); status != http.StatusOK {
		t.Fatalf("userinfo with the refreshed access token: %d", status)
	}
	_, err = pub.config.TokenSource(ctx, &oauth2.Token{RefreshToken: first.RefreshToken}).Token()
	wantOAuthError(t, "the rotated refresh token presented again", err, "invalid_grant")
	_, err = pub.config.TokenSource(ctx, &oauth2.Token{RefreshToken: second.RefreshToken}).Token()
	wantOAuthError(t, "the newest refresh token after the reuse", err, "invalid_grant")
	if status, _, _ := callUserinfo(t, srv, second.AccessToken); status != http.StatusUnauthorized {
		t.Errorf("userinfo with an access token of the revoked grant: %d", status)
	}
}

// TestOIDCC_SessionPrompts, with one resident's session:
//   - prompt=none before the resident consented: consent_required (OIDC
//     Core §3.1.2.6); after consenting, prompt=none comes back with a code
//     (oidcc-prompt-none-logged-in).
//   - oidcc-id-token-hint: a valid hint of this client is accepted; the
//     same ID token as a hint for another client is invalid_request.
//   - oidcc-max-age-1: a login older than max_age sends the browser to
//     log in again; the new ID token's auth_time is later.
//     oidcc-max-age-10000: a recent login is reused.
//   - oidcc-prompt-login: prompt=login forces the login page even with a
//     session, and auth_time moves on.
func TestOIDCC_SessionPrompts(t *testing.T) {
	srv := ownServer(t)
	tb := newTab(t, srv.URL)
	tb.addAuthenticator()
	tb.register(lauWingTung)
	dept := newRP(t, srv, "127.0.0.1", nil)
	other := newRP(t, srv, "127.0.0.1", nil)

	u, a := dept.authURL(oauth2.SetAuthURLParam("prompt", "none"))
	tb.visit(u)
	if q := dept.callback(tb, a); q.Get("error") != "consent_required" || q.Get("code") != "" {
		t.Fatalf("prompt=none before consent: %v", q)
	}

	q, a := dept.authorize(tb, nil)
	tok, idt := dept.exchange(q, a)
	authTime := authTimeOf(t, idt)

	// oidcc-prompt-none-logged-in
	u, a = dept.authURL(oauth2.SetAuthURLParam("prompt", "none"))
	tb.visit(u)
	_, idt2 := dept.exchange(dept.callback(tb, a), a)
	if idt2.Subject != idt.Subject || authTimeOf(t, idt2) != authTime {
		t.Fatalf("prompt=none with a session: sub %q auth_time %d, want %q %d", idt2.Subject, authTimeOf(t, idt2), idt.Subject, authTime)
	}

	// oidcc-id-token-hint
	hint := tok.Extra("id_token").(string)
	u, a = dept.authURL(oauth2.SetAuthURLParam("prompt", "none"), oauth2.SetAuthURLParam("id_token_hint", hint))
	tb.visit(u)
	if _, idt3 := dept.exchange(dept.callback(tb, a), a); idt3.Subject != idt.Subject {
		t.Fatalf("id_token_hint: sub %q, want %q", idt3.Subject, idt.Subject)
	}
	state := randomValue()
	u = other.config.AuthCodeURL(state, oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("id_token_hint", hint))
	if q := other.errorRedirect(t, u, state); q.Get("error") != "invalid_request" {
		t.Fatalf("another client's ID token as id_token_hint: %v", q)
	}

	// oidcc-max-age-1: wait until the login is surely more than a second
	// old (auth_time is in whole seconds), then ask for max_age=1.
	waitPast(authTime, 2100*time.Millisecond)
	u, a = dept.authURL(oauth2.SetAuthURLParam("max_age", "1"))
	tb.visit(u)
	if where := landing(tb, dept); where != "login" {
		tb.fatalf("max_age=1 with a login older than that: the browser went to %s, not the login page", where)
	}
	tb.loginHere()
	_, idt4 := dept.exchange(dept.callback(tb, a), a)
	reauth := authTimeOf(t, idt4)
	if reauth <= authTime {
		t.Fatalf("auth_time after logging in again for max_age=1: %d, not after %d", reauth, authTime)
	}
	if idt4.Subject != idt.Subject {
		t.Fatalf("another subject after logging in again: %q, want %q", idt4.Subject, idt.Subject)
	}

	// oidcc-max-age-10000: the login just made is recent enough.
	u, a = dept.authURL(oauth2.SetAuthURLParam("max_age", "10000"))
	tb.visit(u)
	if where := landing(tb, dept); where != "callback" {
		tb.fatalf("max_age=10000 right after a login: the browser went to %s", where)
	}
	if _, idt5 := dept.exchange(dept.callback(tb, a), a); authTimeOf(t, idt5) != reauth {
		t.Fatalf("max_age=10000: auth_time %d, want the last login's %d", authTimeOf(t, idt5), reauth)
	}

	// oidcc-prompt-login
	waitPast(reauth, 1100*time.Millisecond)
	u, a = dept.authURL(oauth2.SetAuthURLParam("prompt", "login"))
	tb.visit(u)
	if where := landing(tb, dept); where != "login" {
		tb.fatalf("prompt=login with a session: the browser went to %s, not the login page", where)
	}
	tb.loginHere()
	_, idt6 := dept.exchange(dept.callback(tb, a), a)
	if at := authTimeOf(t, idt6); at <= reauth {
		t.Fatalf("auth_time after prompt=login: %d, not after %d", at, reauth)
	}
}

// TestOIDCC_IDTokenHintInvalid: an id_token_hint that eidp did not sign
// (another key under eidp's kid, alg none, garbage) is refused — at the
// authorization endpoint with an error redirect invalid_request (OIDC Core
// §3.1.2.1: the hint must be an ID token the OP issued), at end_session
// with the error page and no redirect to the post-logout URI (RP-Initiated
// Logout §2, §4).
func TestOIDCC_IDTokenHintInvalid(t *testing.T) {
	srv := ownServer(t)
	dept := newRP(t, srv, "127.0.0.1", nil)
	kid := ""
	for _, k := range fetchJWKS(t, srv).Keys {
		if k.Algorithm == string(jose.ES256) {
			kid = k.KeyID
		}
	}
	if kid == "" {
		t.Fatal("no ES256 key in the JWKS")
	}
	now := time.Now().Unix()
	claims := map[string]any{"iss": srv.URL, "sub": "someone", "aud": dept.ID, "iat": now, "exp": now + 600,
		"auth_time": now, "sid": "s"}
	forged := newClientKey(t)
	forged.kid = kid
	for _, tc := range []struct{ name, hint string }{
		{"signed by another key under eidp's kid", forged.sign(t, "JWT", claims)},
		{"alg none", unsignedJWT(claims)},
		{"not a JWT", "garbage"},
		{"three parts of garbage", "eyJhbGciOiJFUzI1NiJ9.e30.c2ln"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, a := dept.authURL(oauth2.SetAuthURLParam("id_token_hint", tc.hint))
			if q := dept.errorRedirect(t, u, a.state); q.Get("error") != "invalid_request" {
				t.Fatalf("authorization: %v", q)
			}
			end := discovery(t, srv)["end_session_endpoint"].(string) + "?" + url.Values{"id_token_hint": {tc.hint},
				"post_logout_redirect_uri": {dept.URL + "/loggedout"}, "state": {"s"}}.Encode()
			if code, _ := errorPage(t, end); code != "invalid_request" {
				t.Fatalf("end_session error page shows %q, want invalid_request", code)
			}
		})
	}
}

// TestFAPI2_PARRequestURI mirrors fapi*-par-attempt-reuse-request_uri and
// fapi*-par-attempt-to-use-request_uri-for-different-client: a request_uri (RFC 9126 §4) is single-use and bound to the client
// that pushed it; a used, unknown or foreign one gets the error page with
// invalid_request_uri (RFC 9101 §6.2), and a foreign client's attempt does
// not use it up.
func TestFAPI2_PARRequestURI(t *testing.T) {
	srv := ownServer(t)
	dept := newRP(t, srv, "127.0.0.1", nil)
	other := newRP(t, srv, "localhost", nil)
	authorize := srv.URL + "/authorize?"

	_, a := dept.authURL()
	status, par := dept.push(a, nil)
	requestURI, _ := par["request_uri"].(string)
	if status != http.StatusCreated || requestURI == "" {
		t.Fatalf("PAR: %d %v", status, par)
	}
	if code, _ := errorPage(t, authorize+url.Values{"client_id": {other.ID}, "request_uri": {requestURI}}.Encode()); code != "invalid_request_uri" {
		t.Fatalf("another client's request_uri: error page shows %q", code)
	}
	// First use by its client: accepted (without a session, to the login).
	resp, _ := getNoFollow(t, authorize+url.Values{"client_id": {dept.ID}, "request_uri": {requestURI}}.Encode())
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?") {
		t.Fatalf("first use of the request_uri: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, tc := range []struct{ name, requestURI string }{
		{"used again", requestURI},
		{"unknown", "urn:ietf:params:oauth:request_uri:" + randomValue()},
		{"not one of eidp's (request_uri_parameter_supported is false)", dept.URL + "/request.jwt"},
	} {
		u := authorize + url.Values{"client_id": {dept.ID}, "request_uri": {tc.requestURI}}.Encode()
		if code, _ := errorPage(t, u); code != "invalid_request_uri" {
			t.Errorf("a request_uri %s: error page shows %q, want invalid_request_uri", tc.name, code)
		}
	}
}

// TestFAPI2_PrivateKeyJWT mirrors fapi*-ensure-client-assertion-with-iss-aud-
// succeeds and the fapi*-ensure-client-assertion-* failure modules: a private_key_jwt client (RFC 7523 §2.2, §3; OIDC Core §9) with
// an inline jwks gets a client-credentials token with a fresh assertion
// whose aud is the token endpoint or the issuer; a wrong aud, a replayed
// jti, another key, or an expired assertion get 401 invalid_client (RFC
// 6749 §5.2).
func TestFAPI2_PrivateKeyJWT(t *testing.T) {
	srv := ownServer(t)
	key := newClientKey(t)
	id, _ := registerClient(t, srv, map[string]any{"client_name": "Records back-end", "grant_types": []string{"client_credentials"},
		"token_endpoint_auth_method": "private_key_jwt", "jwks": key.jwks(), "scope": "records.read"})
	tokenURL := discovery(t, srv)["token_endpoint"].(string)
	assertion := func(edit func(map[string]any)) string {
		now := time.Now().Unix()
		c := map[string]any{"iss": id, "sub": id, "aud": tokenURL, "jti": randomValue(), "iat": now, "exp": now + 60}
		if edit != nil {
			edit(c)
		}
		return key.sign(t, "JWT", c)
	}
	request := func(assertion string) (int, map[string]any) {
		return postForm(t, tokenURL, "", "", url.Values{"grant_type": {"client_credentials"}, "scope": {"records.read"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}})
	}

	good := assertion(nil)
	status, m := request(good)
	if status != http.StatusOK || m["token_type"] != "Bearer" || m["access_token"] == nil {
		t.Fatalf("a correct assertion: %d %v", status, m)
	}
	status, m = request(assertion(func(c map[string]any) { c["aud"] = srv.URL }))
	if status != http.StatusOK || m["access_token"] == nil {
		t.Fatalf("aud = the issuer: %d %v", status, m)
	}
	other := newClientKey(t)
	other.kid = key.kid
	for _, tc := range []struct{ name, assertion string }{
		{"the same assertion again (jti replay)", good},
		{"a wrong aud", assertion(func(c map[string]any) { c["aud"] = "https://other.example/token" })},
		{"signed by a key the client did not register", other.sign(t, "JWT", map[string]any{"iss": id, "sub": id, "aud": tokenURL,
			"jti": randomValue(), "iat": time.Now().Unix(), "exp": time.Now().Unix() + 60})},
		{"expired five minutes ago", assertion(func(c map[string]any) {
			c["iat"] = time.Now().Add(-6 * time.Minute).Unix()
			c["exp"] = time.Now().Add(-5 * time.Minute).Unix()
		})},
		{"alg none", unsignedJWT(map[string]any{"iss": id, "sub": id, "aud": tokenURL, "jti": randomValue(), "exp": time.Now().Unix() + 60})},
	} {
		if status, m := request(tc.assertion); status != http.StatusUnauthorized || m["error"] != "invalid_client" || m["access_token"] != nil {
			t.Errorf("%s: %d %v, want 401 invalid_client", tc.name, status, m)
		}
	}
}

// TestOIDCC_RequestObjectByValue: a request object passed by value (RFC
// 9101 §4, OIDC Core §6.1) signed with the client's registered key is the
// request — its redirect_uri, state and nonce count, the query's do not
// (RFC 9101 §5; mirrors oidcc-ensure-request-object-with-redirect-uri).
// One with a wrong aud (fapi*-ensure-request-object-with-bad-aud-fails),
// expired, signed by another key or unsigned
// (oidcc-unsigned-request-object-supported-correctly-or-rejected-as-
// unsupported: "none" is not in request_object_signing_alg_values_supported)
// gets an error redirect with invalid_request_object (RFC 9101 §6.3).
func TestOIDCC_RequestObjectByValue(t *testing.T) {
	srv := ownServer(t)
	key := newClientKey(t)
	dept := newRP(t, srv, "127.0.0.1", map[string]any{"jwks": key.jwks()})
	object := func(a authRequest, edit func(map[string]any)) map[string]any {
		now := time.Now().Unix()
		c := map[string]any{"iss": dept.ID, "aud": srv.URL, "iat": now, "nbf": now, "exp": now + 300, "jti": randomValue(),
			"response_type": "code", "client_id": dept.ID, "redirect_uri": dept.URL + "/cb", "scope": "openid profile",
			"state": a.state, "nonce": a.nonce, "max_age": 3600,
			"code_challenge": oauth2.S256ChallengeFromVerifier(a.verifier), "code_challenge_method": "S256"}
		if edit != nil {
			edit(c)
		}
		return c
	}
	authorizeWith := func(request string, extra url.Values) string {
		q := url.Values{"client_id": {dept.ID}, "response_type": {"code"}, "scope": {"openid"}, "request": {request}}
		for k, v := range extra {
			q[k] = v
		}
		return srv.URL + "/authorize?" + q.Encode()
	}

	for _, tc := range []struct {
		name    string
		request func(authRequest) string
	}{
		{"a wrong aud", func(a authRequest) string {
			return key.sign(t, "oauth-authz-req+jwt", object(a, func(c map[string]any) { c["aud"] = "https://other.example" }))
		}},
		{"expired", func(a authRequest) string {
			return key.sign(t, "oauth-authz-req+jwt", object(a, func(c map[string]any) {
				c["iat"], c["nbf"], c["exp"] = time.Now().Add(-10*time.Minute).Unix(), time.Now().Add(-10*time.Minute).Unix(), time.Now().Add(-5*time.Minute).Unix()
			}))
		}},
		{"signed by another key", func(a authRequest) string {
			k := newClientKey(t)
			k.kid = key.kid
			return k.sign(t, "oauth-authz-req+jwt", object(a, nil))
		}},
		{"unsigned (alg none)", func(a authRequest) string { return unsignedJWT(object(a, nil)) }},
		{"another client's iss", func(a authRequest) string {
			return key.sign(t, "oauth-authz-req+jwt", object(a, func(c map[string]any) { c["iss"] = "someone-else" }))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The query carries redirect_uri and state for the error
			// redirect: a refused request object's cannot be trusted.
			_, a := dept.authURL()
			state := randomValue()
			u := authorizeWith(tc.request(a), url.Values{"redirect_uri": {dept.URL + "/cb"}, "state": {state}})
			if q := dept.errorRedirect(t, u, state); q.Get("error") != "invalid_request_object" {
				t.Fatalf("%v", q)
			}
		})
	}

	// Accepted, all the way to the tokens: the state at the callback and
	// the nonce in the ID token are the request object's.
	tb := newTab(t, srv.URL)
	tb.addAuthenticator()
	tb.register(loHeiSum)
	_, a := dept.authURL()
	u := authorizeWith(key.sign(t, "oauth-authz-req+jwt", object(a, nil)), url.Values{"state": {"not-this-one"}, "nonce": {"nor-this"}})
	tb.visit(u)
	if where := landing(tb, dept); where == "consent" {
		tb.click("#consent-allow")
	} else if where != "callback" {
		tb.fatalf("a valid request object: the browser went to %s", where)
	}
	dept.exchange(dept.callback(tb, a), a)

	// The same by PAR (RFC 9126 §3 with RFC 9101): the request object alone
	// names the redirect URI; the pushed request is what /authorize uses.
	_, a2 := dept.authURL()
	status, par := postForm(t, discovery(t, srv)["pushed_authorization_request_endpoint"].(string), dept.ID, dept.Secret,
		url.Values{"client_id": {dept.ID}, "request": {key.sign(t, "oauth-authz-req+jwt", object(a2, nil))}})
	requestURI, _ := par["request_uri"].(string)
	if status != http.StatusCreated || requestURI == "" {
		t.Fatalf("PAR with a request object: %d %v", status, par)
	}
	tb.visit(srv.URL + "/authorize?" + url.Values{"client_id": {dept.ID}, "request_uri": {requestURI}}.Encode())
	dept.exchange(dept.callback(tb, a2), a2)
	// A pushed request object that does not verify is refused at once.
	status, par = postForm(t, discovery(t, srv)["pushed_authorization_request_endpoint"].(string), dept.ID, dept.Secret,
		url.Values{"client_id": {dept.ID}, "request": {unsignedJWT(object(a2, nil))}})
	if status != http.StatusBadRequest || par["error"] != "invalid_request_object" {
		t.Fatalf("PAR with an unsigned request object: %d %v", status, par)
	}
}

// ---- helpers -----------------------------------------------------------

// ownServer starts a server of the test's own on SQLite (0.3 s): its rate
// limits, people and clients are the test's alone.
func ownServer(t *testing.T) *server {
	t.Helper()
	return startServer(t, "sqlite:"+t.TempDir()+"/eidp.db")
}

// noFollow is an HTTP client that shows where eidp sends the browser
// instead of going there.
var noFollow = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       30 * time.Second,
}

// getNoFollow GETs u without a session and without following redirects.
func getNoFollow(t *testing.T, u string) (*http.Response, string) {
	t.Helper()
	resp, err := noFollow.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

var errorCodeRE = regexp.MustCompile(`<code id="error-code">([^<]*)</code>`)

// errorPage asserts that eidp answers u with its error page for residents
// (400, HTML, no redirect) and returns the error code it shows.
func errorPage(t *testing.T, u string) (code, body string) {
	t.Helper()
	resp, body := getNoFollow(t, u)
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET %s: %d, Location %q, Content-Type %q; want the error page", u, resp.StatusCode,
			resp.Header.Get("Location"), resp.Header.Get("Content-Type"))
	}
	m := errorCodeRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("the error page shows no error code:\n%s", body)
	}
	return m[1], body
}

// errorRedirect GETs an authorization URL without a session and returns
// the error response eidp redirects to at r's registered callback (RFC 6749
// §4.1.2.1), which must carry state and iss (RFC 9207 §2) and no code.
func (r *rp) errorRedirect(t *testing.T, u, state string) url.Values {
	t.Helper()
	resp, _ := getNoFollow(t, u)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, r.URL+"/cb?") {
		t.Fatalf("GET %s: %d, Location %q; want an error redirect to the client", u, resp.StatusCode, loc)
	}
	lu, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	q := lu.Query()
	if q.Get("error") == "" || q.Get("code") != "" || q.Get("state") != state || q.Get("iss") != r.eidp.URL {
		t.Fatalf("error redirect %v: want error, no code, state %q and iss %q", q, state, r.eidp.URL)
	}
	return q
}

// landing waits for where an authorization took the browser: "login",
// "consent" or "callback" (r's redirect URI).
func landing(tb *tab, r *rp) string {
	tb.t.Helper()
	return tb.waitFor("the login page, the consent page or the callback", `(location.origin === `+jsString(tb.base)+` && document.readyState === "complete" &&
		((location.pathname === "/login" && "login") || (location.pathname === "/consent" && "consent"))) ||
		(location.href.startsWith(`+jsString(r.URL+"/cb?")+`) && "callback")`)
}

// loginHere logs in with the passkey on the login page an authorization
// sent the browser to (tab.login goes to the plain login page instead).
func (tb *tab) loginHere() {
	tb.t.Helper()
	tb.waitPath("/login")
	tb.do(chromedp.WaitEnabled(chromedp.ID("login-passkey")))
	tb.click("#login-passkey")
}

// waitPast waits until d has passed since the Unix time sec. Time must
// pass for max_age and auth_time to mean anything; nothing is asserted on
// the wait itself.
func waitPast(sec int64, d time.Duration) {
	time.Sleep(time.Until(time.Unix(sec, 0).Add(d)))
}

// authTimeOf is an ID token's auth_time.
func authTimeOf(t *testing.T, idt *oidc.IDToken) int64 {
	t.Helper()
	var c struct {
		AuthTime *int64 `json:"auth_time"`
	}
	if err := idt.Claims(&c); err != nil || c.AuthTime == nil {
		t.Fatalf("ID token without auth_time: %v", err)
	}
	return *c.AuthTime
}

// wantOAuthError asserts that x/oauth2 got an OAuth error response with
// code (RFC 6749 §5.2).
func wantOAuthError(t *testing.T, what string, err error, code string) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != code {
		t.Errorf("%s: %v, want the OAuth error %s", what, err, code)
	}
}

// callUserinfo calls the UserInfo endpoint with a bearer token ("" for
// none) in the Authorization header.
func callUserinfo(t *testing.T, srv *server, token string) (int, http.Header, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, discovery(t, srv)["userinfo_endpoint"].(string), nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return do(t, req)
}

// do sends req and decodes a JSON answer (nil if the body is empty or not
// JSON).
func do(t *testing.T, req *http.Request) (int, http.Header, map[string]any) {
	t.Helper()
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	body, _ := io.ReadAll(resp.Body)
	json.Unmarshal(body, &m)
	return resp.StatusCode, resp.Header, m
}

// fetchJWKS reads the provider's JWK set.
func fetchJWKS(t *testing.T, srv *server) jose.JSONWebKeySet {
	t.Helper()
	resp, err := http.Get(discovery(t, srv)["jwks_uri"].(string))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	return set
}

// clientKey is a relying party's P-256 signing key, for client assertions
// (RFC 7523) and request objects (RFC 9101).
type clientKey struct {
	priv *ecdsa.PrivateKey
	kid  string
}

func newClientKey(t *testing.T) clientKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return clientKey{priv: priv, kid: randomValue()}
}

// jwks is the client's public key set, for its jwks metadata.
func (k clientKey) jwks() map[string]any {
	return map[string]any{"keys": []jose.JSONWebKey{{Key: &k.priv.PublicKey, KeyID: k.kid, Algorithm: string(jose.ES256), Use: "sig"}}}
}

// sign makes a compact ES256 JWS of claims with kid and typ in the header.
func (k clientKey) sign(t *testing.T, typ string, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.kid}},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	obj, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// unsignedJWT is an unsecured JWT (RFC 7519 §6: alg none, empty signature).
func unsignedJWT(claims map[string]any) string {
	payload, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc(payload) + "."
}
