package conformance

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"eidp/internal/testenv"
)

// TestOIDCCodeFlow: a resident logs in with a passkey for a department's
// relying party (go-oidc + x/oauth2): consent with one optional claim
// unticked, code → tokens → ID token verified by go-oidc → userinfo;
// refresh; a second login through PAR skips the remembered consent; a
// second department in another sector sees another subject; the ID-card
// number only for the client allowed it and only under its scope. On each
// database engine.
func TestOIDCCodeFlow(t *testing.T) {
	needBrowser(t)
	for _, d := range testenv.Databases(t) {
		t.Run(string(d.Engine), func(t *testing.T) {
			srv := startServer(t, d.URL)
			tb := newTab(t, srv.URL)
			tb.addAuthenticator()
			tb.register(chanTaiMan)

			dept := newRP(t, srv, "127.0.0.1", nil)
			q, a := dept.authorize(tb, []string{"birthdate"})
			tok, idt := dept.exchange(q, a)
			claims := idClaims(t, idt)
			if claims["acr"] != "urn:eidp:acr:substantial" || claims["sid"] == "" || claims["auth_time"] == nil {
				t.Fatalf("ID token claims: %v", claims)
			}
			if amr, _ := claims["amr"].([]any); len(amr) == 0 {
				t.Fatalf("ID token has no amr: %v", claims)
			}
			if tok.TokenType != "Bearer" || tok.RefreshToken == "" || tok.Expiry.IsZero() {
				t.Fatalf("token response: type %q, refresh %v, expiry %v", tok.TokenType, tok.RefreshToken != "", tok.Expiry)
			}
			ui := dept.userinfo(tok)
			want := map[string]any{"sub": idt.Subject, "name": "CHAN Tai Man", "given_name": "Tai Man",
				"family_name": "CHAN", "name#zh-Hant": "陳大文", "gender": "male", "locale": "en"}
			for k, v := range want {
				if ui[k] != v {
					t.Errorf("userinfo %s = %v, want %v (all: %v)", k, ui[k], v, ui)
				}
			}
			if _, ok := ui["birthdate"]; ok {
				t.Errorf("userinfo has birthdate, which the resident unticked: %v", ui)
			}
			if _, ok := ui["eidp_id_number"]; ok {
				t.Errorf("userinfo has the ID-card number without its scope: %v", ui)
			}

			// Refresh: a new access token and a new ID token for the same subject.
			fresh, err := dept.config.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
			if err != nil {
				t.Fatalf("refresh: %v", err)
			}
			raw, _ := fresh.Extra("id_token").(string)
			idt2, err := dept.verifier.Verify(context.Background(), raw)
			if err != nil || idt2.Subject != idt.Subject || fresh.AccessToken == tok.AccessToken {
				t.Fatalf("refreshed ID token: %v, sub %q want %q", err, idt2.Subject, idt.Subject)
			}

			// PAR (RFC 9126): the pushed request's request_uri, then the
			// browser; the consent is remembered, so no page in between.
			_, a2 := dept.authURL()
			status, par := dept.push(a2, nil)
			requestURI, _ := par["request_uri"].(string)
			if status != http.StatusCreated || !strings.HasPrefix(requestURI, "urn:ietf:params:oauth:request_uri:") || par["expires_in"] != float64(60) {
				t.Fatalf("PAR: %d %v", status, par)
			}
			tb.visit(srv.URL + "/authorize?" + url.Values{"client_id": {dept.ID}, "request_uri": {requestURI}}.Encode())
			_, idt3 := dept.exchange(dept.callback(tb, a2), a2)
			if idt3.Subject != idt.Subject {
				t.Fatalf("same client, another subject: %q vs %q", idt3.Subject, idt.Subject)
			}

			// Another department, another sector: another subject. It may
			// have the ID-card number and asks for it.
			other := newRP(t, srv, "localhost", map[string]any{"scope": "openid profile eidp:idcard", "allow_id_card": true})
			q4, a4 := other.authorize(tb, nil)
			tok4, idt4 := other.exchange(q4, a4)
			if idt4.Subject == idt.Subject {
				t.Fatalf("two sectors got the same subject %q", idt.Subject)
			}
			if ui := other.userinfo(tok4); ui["eidp_id_number"] != "A123456(3)" || ui["sub"] != idt4.Subject {
				t.Fatalf("userinfo for the ID-card client: %v", ui)
			}
			// The first department may not ask for it at all.
			u5, a5 := dept.authURL()
			u5 = strings.Replace(u5, "scope=openid+profile", "scope=openid+profile+eidp%3Aidcard", 1)
			tb.visit(u5)
			if q5 := dept.callback(tb, a5); q5.Get("error") != "invalid_scope" || q5.Get("code") != "" {
				t.Fatalf("eidp:idcard for a client without allow_id_card: %v", q5)
			}
		})
	}
}

// TestClientCredentialsIntrospectionRevocation: a department back-end gets
// a token with the client-credentials grant (x/oauth2/clientcredentials),
// introspects it (RFC 7662), revokes it (RFC 7009), and introspection then
// says inactive. Another client learns nothing about it.
func TestClientCredentialsIntrospectionRevocation(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(string(d.Engine), func(t *testing.T) {
			srv := startServer(t, d.URL)
			meta := map[string]any{"client_name": "Back-end", "grant_types": []string{"client_credentials"},
				"token_endpoint_auth_method": "client_secret_basic", "scope": "records.read records.write"}
			id, secret := registerClient(t, srv, meta)
			meta["client_name"] = "Other back-end"
			otherID, otherSecret := registerClient(t, srv, meta)
			disc := discovery(t, srv)
			cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: disc["token_endpoint"].(string),
				Scopes: []string{"records.read"}, AuthStyle: oauth2.AuthStyleInHeader}
			tok, err := cc.Token(context.Background())
			if err != nil {
				t.Fatalf("client credentials: %v", err)
			}
			if tok.TokenType != "Bearer" || tok.RefreshToken != "" || tok.Extra("id_token") != nil || tok.Extra("scope") != "records.read" {
				t.Fatalf("token response: %+v scope %v", tok, tok.Extra("scope"))
			}
			// RFC 9068: a JWT with typ at+jwt, verifiable with the JWKS.
			jws, err := jose.ParseSigned(tok.AccessToken, []jose.SignatureAlgorithm{jose.ES256})
			if err != nil || jws.Signatures[0].Header.ExtraHeaders["typ"] != "at+jwt" {
				t.Fatalf("access token is not an RFC 9068 JWT: %v %v", err, jws)
			}
			introspect := func(cid, csecret string) map[string]any {
				status, m := postForm(t, disc["introspection_endpoint"].(string), cid, csecret, url.Values{"token": {tok.AccessToken}})
				if status != http.StatusOK {
					t.Fatalf("introspection: %d %v", status, m)
				}
				return m
			}
			m := introspect(id, secret)
			if m["active"] != true || m["client_id"] != id || m["sub"] != id || m["scope"] != "records.read" ||
				m["token_type"] != "Bearer" || m["iss"] != srv.URL || m["exp"] == nil || m["iat"] == nil || m["jti"] == nil {
				t.Fatalf("introspection of a live token: %v", m)
			}
			if m := introspect(otherID, otherSecret); len(m) != 1 || m["active"] != false {
				t.Fatalf("another client introspecting: %v", m)
			}
			if status, _ := postForm(t, disc["introspection_endpoint"].(string), id, "wrong", url.Values{"token": {tok.AccessToken}}); status != http.StatusUnauthorized {
				t.Fatalf("introspection with a wrong secret: %d", status)
			}
			// Another client's revocation changes nothing.
			if status, _ := postForm(t, disc["revocation_endpoint"].(string), otherID, otherSecret, url.Values{"token": {tok.AccessToken}}); status != http.StatusOK {
				t.Fatalf("revocation by another client: %d", status)
			}
			if m := introspect(id, secret); m["active"] != true {
				t.Fatalf("another client revoked the token: %v", m)
			}
			if status, _ := postForm(t, disc["revocation_endpoint"].(string), id, secret, url.Values{"token": {tok.AccessToken}, "token_type_hint": {"access_token"}}); status != http.StatusOK {
				t.Fatalf("revocation: %d", status)
			}
			if m := introspect(id, secret); len(m) != 1 || m["active"] != false {
				t.Fatalf("introspection after revocation: %v", m)
			}
			// User scopes need a resident.
			cc.Scopes = []string{"openid"}
			if _, err := cc.Token(context.Background()); err == nil || !strings.Contains(err.Error(), "invalid_scope") {
				t.Fatalf("client credentials with openid: %v", err)
			}
		})
	}
}

// TestLogoutRPInitiatedAndBackChannel: after a login, the relying party
// sends the browser to end_session with id_token_hint; the session ends, the
// browser comes back to the registered post-logout URI with state, the
// relying party receives a back-channel logout token that go-oidc verifies
// and whose sub and sid match the ID token, and the refresh token is dead.
func TestLogoutRPInitiatedAndBackChannel(t *testing.T) {
	needBrowser(t)
	srv := sharedServer(t)
	tb := newTab(t, srv.URL)
	tb.addAuthenticator()
	tb.register(lauYin)
	dept := newRP(t, srv, "127.0.0.1", nil)
	q, a := dept.authorize(tb, nil)
	tok, idt := dept.exchange(q, a)
	var idc struct {
		SID string `json:"sid"`
	}
	idt.Claims(&idc)

	end := dept.provider.Endpoint()
	_ = end
	disc := discovery(t, srv)
	state := randomValue()
	tb.visit(disc["end_session_endpoint"].(string) + "?" + url.Values{
		"id_token_hint": {tok.Extra("id_token").(string)}, "post_logout_redirect_uri": {dept.URL + "/loggedout"},
		"state": {state}}.Encode())
	href := tb.waitFor("the post-logout redirect", `location.href.startsWith(`+jsString(dept.URL+"/loggedout")+`) && location.href`)
	if u, _ := url.Parse(href); u.Query().Get("state") != state {
		t.Fatalf("post-logout redirect %q lacks state %q", href, state)
	}
	if tb.cookie("eidp_session") != "" {
		t.Fatal("the session cookie survived the logout")
	}

	select {
	case raw := <-dept.logoutTokens:
		lt, err := dept.provider.Verifier(&oidc.Config{ClientID: dept.ID, SkipExpiryCheck: false}).Verify(context.Background(), raw)
		if err != nil {
			t.Fatalf("go-oidc rejects the logout token: %v", err)
		}
		var c struct {
			SID    string                     `json:"sid"`
			Events map[string]json.RawMessage `json:"events"`
			Nonce  *string                    `json:"nonce"`
		}
		lt.Claims(&c)
		if lt.Subject != idt.Subject || c.SID != idc.SID || c.SID == "" || c.Nonce != nil {
			t.Fatalf("logout token sub %q sid %q nonce %v; ID token sub %q sid %q", lt.Subject, c.SID, c.Nonce, idt.Subject, idc.SID)
		}
		if _, ok := c.Events["http://schemas.openid.net/event/backchannel-logout"]; !ok {
			t.Fatalf("logout token events: %v", c.Events)
		}
		jws, _ := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
		if jws.Signatures[0].Header.ExtraHeaders["typ"] != "logout+jwt" {
			t.Fatalf("logout token typ %v", jws.Signatures[0].Header.ExtraHeaders["typ"])
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no back-channel logout token within 20 s")
	}
	if _, err := dept.config.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil ||
		!strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("refresh after logout: %v", err)
	}
	if _, err := dept.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok)); err == nil {
		t.Fatal("userinfo accepted an access token of a logged-out session")
	}
}

// TestKeyRotationWhileAClientVerifies: `eidp keys rotate` publishes the new
// key before it signs; go-oidc, which caches the JWKS, keeps verifying the
// tokens signed before and after (it refetches on the unknown kid).
func TestKeyRotationWhileAClientVerifies(t *testing.T) {
	needBrowser(t)
	srv := startServer(t, "sqlite:"+t.TempDir()+"/eidp.db", "EIDP_KEY_REFRESH=300ms")
	tb := newTab(t, srv.URL)
	tb.addAuthenticator()
	tb.register(fernandes)
	dept := newRP(t, srv, "127.0.0.1", nil)
	q, a := dept.authorize(tb, nil)
	tok, idt := dept.exchange(q, a)
	oldRaw := tok.Extra("id_token").(string)
	oldKid := kidOf(t, oldRaw)

	cmd := exec.Command(binary, "keys", "rotate", "--role", "oidc-signing", "--publish-ahead", "3s")
	cmd.Env = srv.env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("keys rotate: %v\n%s", err, out)
	}
	// Published ahead: in the JWKS while the old key still signs.
	deadline := time.Now().Add(20 * time.Second)
	published := false
	var newKid string
	for time.Now().Before(deadline) {
		fresh, err := dept.config.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if err != nil {
			t.Fatalf("refresh during rotation: %v", err)
		}
		raw := fresh.Extra("id_token").(string)
		kids := jwksKids(t, srv)
		if kid := kidOf(t, raw); kid != oldKid {
			if !published {
				t.Fatalf("the new key %s signed before it was published", kid)
			}
			if !slices.Contains(kids, kid) {
				t.Fatalf("token signed by %s, which the JWKS %v lacks", kid, kids)
			}
			if _, err := dept.verifier.Verify(context.Background(), raw); err != nil {
				t.Fatalf("go-oidc rejects a token of the new key: %v", err)
			}
			newKid = kid
			break
		}
		if len(kids) == 4 { // 2 EC + 2 RSA... the RSA role did not rotate
			published = true
		}
		if len(kids) == 3 {
			published = true
		}
		time.Sleep(300 * time.Millisecond)
	}
	if newKid == "" {
		t.Fatalf("the new key never started signing (JWKS %v)", jwksKids(t, srv))
	}
	if !slices.Contains(jwksKids(t, srv), oldKid) {
		t.Fatal("the old key left the JWKS while tokens it signed are still valid")
	}
	if _, err := dept.verifier.Verify(context.Background(), oldRaw); err != nil {
		t.Fatalf("go-oidc rejects a token of the old key after the rotation: %v", err)
	}
	_ = idt
}

func kidOf(t *testing.T, raw string) string {
	t.Helper()
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.PS256})
	if err != nil {
		t.Fatal(err)
	}
	return jws.Signatures[0].Header.KeyID
}

func jwksKids(t *testing.T, srv *server) []string {
	t.Helper()
	resp, err := http.Get(srv.URL + "/jwks")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	json.NewDecoder(resp.Body).Decode(&set)
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KeyID)
	}
	return kids
}

// TestCORSForBrowserClients: a single-page app (a public client) calls the
// token, revocation and userinfo endpoints from its own origin: preflights
// are answered, responses readable, and credentials (cookies) never allowed.
func TestCORSForBrowserClients(t *testing.T) {
	srv := startServer(t, "sqlite:"+t.TempDir()+"/eidp.db")
	for _, path := range []string{"/token", "/revoke", "/userinfo"} {
		req, _ := http.NewRequest(http.MethodOptions, srv.URL+path, nil)
		req.Header.Set("Origin", "https://app.example.gov")
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		h := resp.Header
		if resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "*" ||
			!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") || h.Get("Access-Control-Allow-Credentials") != "" {
			t.Fatalf("preflight %s: %d %v", path, resp.StatusCode, h)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/userinfo", nil)
	req.Header.Set("Origin", "https://app.example.gov")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "WWW-Authenticate") {
		t.Fatalf("userinfo from another origin: %d %v", resp.StatusCode, resp.Header)
	}
}
