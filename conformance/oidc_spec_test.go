package conformance

// Field-by-field checks of what the OpenID Provider publishes and issues,
// against the sections of the specifications that define each field.

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
)

// TestSpec_Discovery checks the provider metadata: OIDC Discovery 1.0 §3
// and §4, RFC 8414 §2–3, RFC 9126 §5, RFC 9207 §3, Back-Channel Logout 1.0
// §2.1, RP-Initiated Logout 1.0 §3. What is advertised must work, and what
// does not work must not be advertised.
func TestSpec_Discovery(t *testing.T) {
	srv := ownServer(t)
	resp, err := http.Get(srv.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var md map[string]any
	err = json.NewDecoder(resp.Body).Decode(&md)
	resp.Body.Close()
	// OIDC Discovery §4.2, RFC 8414 §3.2: 200 with application/json.
	if err != nil || resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("discovery: %d %q %v", resp.StatusCode, resp.Header.Get("Content-Type"), err)
	}
	strs := func(name string) []string {
		t.Helper()
		raw, ok := md[name].([]any)
		if !ok {
			t.Fatalf("%s is %T (%v), want a JSON array", name, md[name], md[name])
		}
		var out []string
		for _, v := range raw {
			s, ok := v.(string)
			if !ok {
				t.Fatalf("%s has a non-string %v", name, v)
			}
			out = append(out, s)
		}
		return out
	}

	t.Run("issuer is the URL the document was fetched from (OIDC Discovery §4.3, RFC 8414 §3.3)", func(t *testing.T) {
		iss, _ := md["issuer"].(string)
		u, err := url.Parse(iss)
		if iss != srv.URL || err != nil || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(iss, "/") {
			t.Fatalf("issuer %q, fetched from %q", iss, srv.URL)
		}
	})

	t.Run("required and recommended members are present (OIDC Discovery §3)", func(t *testing.T) {
		for _, name := range []string{"issuer", "authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
			"response_types_supported", "subject_types_supported", "id_token_signing_alg_values_supported",
			"scopes_supported", "claims_supported"} {
			if md[name] == nil {
				t.Errorf("%s is missing", name)
			}
		}
		if !slices.Contains(strs("scopes_supported"), "openid") {
			t.Error("scopes_supported lacks openid (OIDC Discovery §3: it MUST be listed)")
		}
	})

	// Each endpoint is absolute, under the issuer, and answers: a request
	// without parameters gets an error of the endpoint's own, not a 404
	// (nor a 405 for the method the endpoint is for, nor a 5xx).
	t.Run("every endpoint is absolute, under the issuer, and answers", func(t *testing.T) {
		for _, tc := range []struct {
			name, method string
			oauthError   bool // the answer is an OAuth error object
		}{
			{"authorization_endpoint", http.MethodGet, false},
			{"token_endpoint", http.MethodPost, true},
			{"userinfo_endpoint", http.MethodGet, true},
			{"jwks_uri", http.MethodGet, false},
			{"pushed_authorization_request_endpoint", http.MethodPost, true},
			{"introspection_endpoint", http.MethodPost, true},
			{"revocation_endpoint", http.MethodPost, true},
			{"end_session_endpoint", http.MethodGet, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ep, _ := md[tc.name].(string)
				u, err := url.Parse(ep)
				if err != nil || !u.IsAbs() || !strings.HasPrefix(ep, srv.URL+"/") || u.RawQuery != "" || u.Fragment != "" {
					t.Fatalf("%s = %q: not an absolute URL under the issuer %s", tc.name, ep, srv.URL)
				}
				req, _ := http.NewRequest(tc.method, ep, strings.NewReader(""))
				if tc.method == http.MethodPost {
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				}
				status, _, m := do(t, req)
				if status == http.StatusNotFound || status == http.StatusMethodNotAllowed || status >= 500 {
					t.Fatalf("%s %s: %d", tc.method, ep, status)
				}
				if tc.oauthError && (status < 400 || m["error"] == nil) {
					t.Fatalf("%s %s without parameters: %d %v, want an OAuth error", tc.method, ep, status, m)
				}
			})
		}
	})

	t.Run("only the authorization code flow with S256 PKCE", func(t *testing.T) {
		if got := strs("response_types_supported"); !slices.Equal(got, []string{"code"}) {
			t.Errorf("response_types_supported %v, want exactly [code]", got)
		}
		if got := strs("code_challenge_methods_supported"); !slices.Equal(got, []string{"S256"}) {
			t.Errorf("code_challenge_methods_supported %v, want exactly [S256] (RFC 8414 §2; plain is refused)", got)
		}
		if md["response_modes_supported"] != nil {
			if got := strs("response_modes_supported"); !slices.Equal(got, []string{"query"}) {
				t.Errorf("response_modes_supported %v, want [query]", got)
			}
		}
		for _, g := range strs("grant_types_supported") {
			if !slices.Contains([]string{"authorization_code", "refresh_token", "client_credentials"}, g) {
				t.Errorf("grant_types_supported lists %q, which eidp does not implement", g)
			}
		}
		if g := strs("grant_types_supported"); !slices.Contains(g, "authorization_code") || slices.Contains(g, "implicit") {
			t.Errorf("grant_types_supported %v", g)
		}
	})

	t.Run("pairwise subjects and ID token algorithms (OIDC Discovery §3)", func(t *testing.T) {
		if got := strs("subject_types_supported"); !slices.Contains(got, "pairwise") {
			t.Errorf("subject_types_supported %v lacks pairwise", got)
		}
		algs := strs("id_token_signing_alg_values_supported")
		for _, want := range []string{"ES256", "RS256", "PS256"} {
			if !slices.Contains(algs, want) {
				t.Errorf("id_token_signing_alg_values_supported %v lacks %s", algs, want)
			}
		}
		for _, name := range []string{"id_token_signing_alg_values_supported", "request_object_signing_alg_values_supported",
			"token_endpoint_auth_signing_alg_values_supported"} {
			for _, a := range strs(name) {
				if strings.EqualFold(a, "none") || strings.HasPrefix(a, "HS") {
					t.Errorf("%s lists %q: unsigned and shared-secret JWTs are not accepted or issued", name, a)
				}
			}
		}
	})

	t.Run("client authentication (RFC 8414 §2)", func(t *testing.T) {
		methods := strs("token_endpoint_auth_methods_supported")
		for _, want := range []string{"client_secret_basic", "private_key_jwt"} {
			if !slices.Contains(methods, want) {
				t.Errorf("token_endpoint_auth_methods_supported %v lacks %s", methods, want)
			}
		}
		for _, m := range methods {
			if !slices.Contains([]string{"client_secret_basic", "client_secret_post", "private_key_jwt", "none"}, m) {
				t.Errorf("token_endpoint_auth_methods_supported lists %q, which eidp does not implement", m)
			}
		}
		// RFC 8414 §2: present when private_key_jwt is.
		if algs := strs("token_endpoint_auth_signing_alg_values_supported"); len(algs) == 0 {
			t.Error("token_endpoint_auth_signing_alg_values_supported is empty while private_key_jwt is supported")
		}
	})

	t.Run("PAR, iss in the response, logout", func(t *testing.T) {
		if _, ok := md["require_pushed_authorization_requests"].(bool); !ok {
			t.Errorf("require_pushed_authorization_requests is %v, want a boolean (RFC 9126 §5)", md["require_pushed_authorization_requests"])
		}
		if md["authorization_response_iss_parameter_supported"] != true {
			t.Errorf("authorization_response_iss_parameter_supported is %v, want true (RFC 9207 §3)", md["authorization_response_iss_parameter_supported"])
		}
		if md["backchannel_logout_supported"] != true || md["backchannel_logout_session_supported"] != true {
			t.Errorf("backchannel_logout_supported %v, backchannel_logout_session_supported %v; want true, true (Back-Channel Logout §2.1)",
				md["backchannel_logout_supported"], md["backchannel_logout_session_supported"])
		}
	})

	t.Run("nothing advertised that eidp does not do", func(t *testing.T) {
		for _, name := range []string{"registration_endpoint", "check_session_iframe", "device_authorization_endpoint",
			"backchannel_authentication_endpoint", "mtls_endpoint_aliases", "dpop_signing_alg_values_supported"} {
			if v, ok := md[name]; ok {
				t.Errorf("%s is advertised (%v), but eidp has none", name, v)
			}
		}
		for _, name := range []string{"frontchannel_logout_supported", "tls_client_certificate_bound_access_tokens"} {
			if v, ok := md[name]; ok && v != false {
				t.Errorf("%s is %v, but eidp does not do it", name, v)
			}
		}
	})

	// The converse, at the authorization endpoint: a response type or mode
	// that is not advertised is refused (RFC 6749 §4.1.2.1).
	t.Run("unadvertised response types and modes are refused", func(t *testing.T) {
		dept := newRP(t, srv, "127.0.0.1", nil)
		for _, tc := range []struct {
			param, value, want string
		}{
			{"response_type", "token", "unsupported_response_type"},
			{"response_type", "code id_token", "unsupported_response_type"},
			{"response_type", "id_token", "unsupported_response_type"},
			{"response_mode", "fragment", "invalid_request"},
			{"response_mode", "form_post", "invalid_request"},
		} {
			u, a := dept.authURL(oauth2.SetAuthURLParam(tc.param, tc.value))
			if q := dept.errorRedirect(t, u, a.state); q.Get("error") != tc.want {
				t.Errorf("%s=%s: %v, want %s", tc.param, tc.value, q, tc.want)
			}
		}
	})
}

// TestSpec_JWKS checks the provider's JWK set (RFC 7517 §4–5, RFC 7518
// §6): signing keys only, public members only, unique kids, cacheable.
func TestSpec_JWKS(t *testing.T) {
	srv := ownServer(t)
	resp, err := http.Get(discovery(t, srv)["jwks_uri"].(string))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("JWKS: %d", resp.StatusCode)
	}
	// RFC 7517 §8.5 registers application/jwk-set+json; application/json
	// is what most providers send and clients accept.
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") && !strings.HasPrefix(ct, "application/jwk-set+json") {
		t.Errorf("Content-Type %q", ct)
	}
	if resp.Header.Get("Cache-Control") == "" {
		t.Error("no Cache-Control: clients cannot tell how long to keep the keys")
	}
	var raw struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil || len(raw.Keys) == 0 {
		t.Fatalf("JWKS: %v, %d keys", err, len(raw.Keys))
	}
	kids := map[string]bool{}
	kinds := map[string]bool{}
	for i, k := range raw.Keys {
		kid, _ := k["kid"].(string)
		kty, _ := k["kty"].(string)
		if kid == "" || kty == "" || k["use"] != "sig" {
			t.Errorf("key %d: kid %q, kty %q, use %v; want all three, use sig (RFC 7517 §4.1–4.5)", i, kid, kty, k["use"])
		}
		if kids[kid] {
			t.Errorf("kid %q appears twice (RFC 7517 §4.5: kids distinguish keys)", kid)
		}
		kids[kid] = true
		kinds[kty] = true
		for _, m := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
			if _, ok := k[m]; ok {
				t.Errorf("key %s has the private member %q (RFC 7518 §6.2.2, §6.3.2, §6.4)", kid, m)
			}
		}
		switch kty {
		case "EC":
			if k["crv"] != "P-256" || k["x"] == nil || k["y"] == nil || k["alg"] != "ES256" {
				t.Errorf("EC key %s: crv %v, x %v, y %v, alg %v; want P-256 with x, y and alg ES256 (RFC 7518 §6.2.1)", kid, k["crv"], k["x"] != nil, k["y"] != nil, k["alg"])
			}
		case "RSA":
			if k["n"] == nil || k["e"] == nil {
				t.Errorf("RSA key %s lacks n or e (RFC 7518 §6.3.1)", kid)
			}
		default:
			t.Errorf("key %s has kty %q", kid, kty)
		}
		b, _ := json.Marshal(k)
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(b); err != nil || !jwk.Valid() || !jwk.IsPublic() {
			t.Errorf("key %s does not parse as a valid public JWK: %v", kid, err)
			continue
		}
		switch pub := jwk.Key.(type) {
		case *rsa.PublicKey:
			if pub.N.BitLen() < 2048 {
				t.Errorf("RSA key %s has %d bits (RFC 7518 §3.3: at least 2048)", kid, pub.N.BitLen())
			}
		case *ecdsa.PublicKey:
		default:
			t.Errorf("key %s is a %T", kid, pub)
		}
	}
	if !kinds["EC"] || !kinds["RSA"] {
		t.Errorf("key types %v: want EC (ES256) and RSA (RS256, PS256) keys, as id_token_signing_alg_values_supported says", kinds)
	}
}

// TestSpec_Tokens checks, field by field, what one resident's logins give
// relying parties: the token response (RFC 6749 §5.1, OIDC Core
// §3.1.3.3), the ID token (OIDC Core §2, §3.1.3.6, §3.1.3.7), ID tokens in
// RS256 and PS256 for clients registered for them (OIDC Registration §2),
// the access token (RFC 9068 §2), and the UserInfo endpoint (OIDC Core
// §5.3, RFC 6750 §2–3).
func TestSpec_Tokens(t *testing.T) {
	srv := ownServer(t)
	disc := discovery(t, srv)
	jwks := fetchJWKS(t, srv)
	tb := newTab(t, srv.URL)
	tb.addAuthenticator()
	tb.register(soRaymondYiu)

	// The default client (ES256); the token request by hand, to see the
	// response's headers and exact JSON.
	dept := newRP(t, srv, "127.0.0.1", nil)
	q, a := dept.authorize(tb, nil)
	req, _ := http.NewRequest(http.MethodPost, disc["token_endpoint"].(string), strings.NewReader(url.Values{
		"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {dept.URL + "/cb"},
		"code_verifier": {a.verifier}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(dept.ID), url.QueryEscape(dept.Secret))
	status, header, body := do(t, req)
	issuedAt := time.Now()
	if status != http.StatusOK {
		t.Fatalf("token request: %d %v", status, body)
	}
	accessToken, _ := body["access_token"].(string)
	rawID, _ := body["id_token"].(string)
	idt, err := dept.verifier.Verify(t.Context(), rawID)
	if err != nil {
		t.Fatalf("go-oidc rejects the ID token: %v", err)
	}

	// Clients registered for RS256 and PS256 ID tokens, in the same
	// session: go-oidc verifies them with the published keys.
	others := map[string]string{} // alg → raw ID token
	otherAT := map[string]string{}
	for _, alg := range []string{"RS256", "PS256"} {
		r := newRP(t, srv, "127.0.0.1", map[string]any{"id_token_signed_response_alg": alg})
		q, a := r.authorize(tb, nil)
		tok, _ := r.exchange(q, a) // go-oidc verifies
		others[alg] = tok.Extra("id_token").(string)
		otherAT[alg] = tok.AccessToken
	}

	// A client-credentials token: no resident behind it.
	ccID, ccSecret := registerClient(t, srv, map[string]any{"client_name": "Back-end", "grant_types": []string{"client_credentials"},
		"token_endpoint_auth_method": "client_secret_basic", "scope": "records.read"})
	status, cc := postForm(t, disc["token_endpoint"].(string), ccID, ccSecret, url.Values{"grant_type": {"client_credentials"}, "scope": {"records.read"}})
	ccToken, _ := cc["access_token"].(string)
	if status != http.StatusOK || ccToken == "" {
		t.Fatalf("client credentials: %d %v", status, cc)
	}

	t.Run("token response (RFC 6749 §5.1, OIDC Core §3.1.3.3)", func(t *testing.T) {
		if ct := header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("Content-Type %q, want application/json", ct)
		}
		if cc := header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
			t.Errorf("Cache-Control %q, want no-store", cc)
		}
		if body["token_type"] != "Bearer" {
			t.Errorf("token_type %v, want Bearer (OIDC Core §3.1.3.3)", body["token_type"])
		}
		if exp, ok := body["expires_in"].(float64); !ok || exp <= 0 || exp != math.Trunc(exp) {
			t.Errorf("expires_in %v (%T), want a positive whole number", body["expires_in"], body["expires_in"])
		}
		if accessToken == "" || rawID == "" {
			t.Errorf("access_token or id_token missing: %v", body)
		}
		if rt, ok := body["refresh_token"].(string); !ok || rt == "" {
			t.Errorf("refresh_token %v: the client is registered for the refresh_token grant", body["refresh_token"])
		}
		if s, ok := body["scope"]; ok && s != "openid profile" {
			t.Errorf("scope %v, want the granted openid profile", s)
		}
	})

	t.Run("ID token (OIDC Core §2, §3.1.3.6, §3.1.3.7)", func(t *testing.T) {
		h, c := checkSignedJWT(t, rawID, jwks, "ES256")
		if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "JWT" {
			t.Errorf("ID token typ %q, want JWT (RFC 8725 §3.11: distinct from at+jwt and logout+jwt)", typ)
		}
		if c["iss"] != srv.URL {
			t.Errorf("iss %v, want %s", c["iss"], srv.URL)
		}
		if sub, _ := c["sub"].(string); sub == "" || len(sub) > 255 || sub != idt.Subject {
			t.Errorf("sub %q: want a non-empty string of at most 255 ASCII characters (§2)", sub)
		}
		switch aud := c["aud"].(type) {
		case string:
			if aud != dept.ID {
				t.Errorf("aud %q, want the client_id %q", aud, dept.ID)
			}
		case []any:
			if len(aud) != 1 || aud[0] != dept.ID {
				t.Errorf("aud %v, want [%q] (more audiences would need azp)", aud, dept.ID)
			}
		default:
			t.Errorf("aud %v", c["aud"])
		}
		if azp, ok := c["azp"]; ok && azp != dept.ID {
			t.Errorf("azp %v, want the client_id", azp)
		}
		iat, exp, authTime := num(c["iat"]), num(c["exp"]), num(c["auth_time"])
		if exp <= iat {
			t.Errorf("exp %v is not after iat %v", exp, iat)
		}
		if d := time.Unix(int64(iat), 0).Sub(issuedAt); d < -time.Minute || d > time.Minute {
			t.Errorf("iat is %v from now", d)
		}
		if authTime <= 0 || authTime > iat {
			t.Errorf("auth_time %v: want the login's time, not after iat %v", authTime, iat)
		}
		if c["nonce"] != a.nonce {
			t.Errorf("nonce %v, want the request's %q (§3.1.3.7 item 11)", c["nonce"], a.nonce)
		}
		if acr, _ := c["acr"].(string); !slices.Contains(toStrings(disc["acr_values_supported"]), acr) {
			t.Errorf("acr %q is not one of acr_values_supported %v", acr, disc["acr_values_supported"])
		}
		amr, ok := c["amr"].([]any)
		if !ok || len(amr) == 0 {
			t.Errorf("amr %v, want a non-empty JSON array", c["amr"])
		}
		for _, v := range amr {
			if s, _ := v.(string); !slices.Contains(rfc8176AMR, s) {
				t.Errorf("amr value %v is not registered (RFC 8176 §2)", v)
			}
		}
		if sid, _ := c["sid"].(string); sid == "" {
			t.Errorf("sid %v, want a session ID (Back-Channel Logout §2.1, backchannel_logout_session_supported)", c["sid"])
		}
		if c["at_hash"] != leftHalfHash(accessToken) {
			t.Errorf("at_hash %v, want %s: the left half of SHA-256 of the access token (§3.1.3.6)", c["at_hash"], leftHalfHash(accessToken))
		}
	})

	t.Run("RS256 and PS256 ID tokens (OIDC Registration §2 id_token_signed_response_alg)", func(t *testing.T) {
		esKid := kidOf(t, rawID)
		for alg, raw := range others {
			h, c := checkSignedJWT(t, raw, jwks, jose.SignatureAlgorithm(alg))
			if h.KeyID == esKid {
				t.Errorf("%s ID token signed with the ES256 key's kid", alg)
			}
			if c["at_hash"] != leftHalfHash(otherAT[alg]) {
				t.Errorf("%s ID token at_hash %v, want %s (SHA-256 for %s)", alg, c["at_hash"], leftHalfHash(otherAT[alg]), alg)
			}
		}
	})

	t.Run("access token (RFC 9068 §2.1, §2.2)", func(t *testing.T) {
		h, c := checkSignedJWT(t, accessToken, jwks, "ES256")
		if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "at+jwt" && typ != "application/at+jwt" {
			t.Errorf("access token typ %q, want at+jwt (§2.1)", typ)
		}
		for _, name := range []string{"iss", "exp", "aud", "sub", "client_id", "iat", "jti"} {
			if c[name] == nil || c[name] == "" {
				t.Errorf("claim %s missing (§2.2)", name)
			}
		}
		if c["iss"] != srv.URL || c["client_id"] != dept.ID || c["sub"] != idt.Subject {
			t.Errorf("iss %v, client_id %v, sub %v; want %s, %s, the ID token's %s", c["iss"], c["client_id"], c["sub"], srv.URL, dept.ID, idt.Subject)
		}
		if num(c["exp"]) <= num(c["iat"]) {
			t.Errorf("exp %v not after iat %v", c["exp"], c["iat"])
		}
		if d := time.Unix(int64(num(c["exp"])), 0).Sub(issuedAt) - time.Duration(num(body["expires_in"]))*time.Second; d < -5*time.Second || d > 5*time.Second {
			t.Errorf("exp and expires_in disagree by %v", d)
		}
		if s, ok := c["scope"]; ok && s != "openid profile" {
			t.Errorf("scope %v, want the granted scopes (§2.2.3)", s)
		}
		_, cc := checkSignedJWT(t, ccToken, jwks, "ES256")
		if cc["sub"] != ccID || cc["client_id"] != ccID || cc["jti"] == c["jti"] {
			t.Errorf("client-credentials token: sub %v client_id %v jti %v; want the client as sub (§2.2) and a unique jti", cc["sub"], cc["client_id"], cc["jti"])
		}
	})

	t.Run("userinfo (OIDC Core §5.3, RFC 6750 §2–3)", func(t *testing.T) {
		ep := disc["userinfo_endpoint"].(string)
		// GET with the header (§5.3.1), POST with the header and POST with
		// a form body (RFC 6750 §2.1, §2.2; oidcc-userinfo-get,
		// -post-header, -post-body).
		get, _ := http.NewRequest(http.MethodGet, ep, nil)
		get.Header.Set("Authorization", "Bearer "+accessToken)
		postHeader, _ := http.NewRequest(http.MethodPost, ep, nil)
		postHeader.Header.Set("Authorization", "Bearer "+accessToken)
		postBody, _ := http.NewRequest(http.MethodPost, ep, strings.NewReader(url.Values{"access_token": {accessToken}}.Encode()))
		postBody.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for name, req := range map[string]*http.Request{"GET": get, "POST with the header": postHeader, "POST with a form body": postBody} {
			status, h, m := do(t, req)
			if status != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
				t.Errorf("%s: %d %q", name, status, h.Get("Content-Type"))
			}
			if m["sub"] != idt.Subject {
				t.Errorf("%s: sub %v, want the ID token's %s (§5.3.2)", name, m["sub"], idt.Subject)
			}
		}

		// RFC 6750 §3.1: a request without a token gets 401 and the Bearer
		// challenge, without an error code.
		status, h, _ := callUserinfo(t, srv, "")
		if wa := h.Get("WWW-Authenticate"); status != http.StatusUnauthorized || !strings.HasPrefix(wa, "Bearer") || strings.Contains(wa, "error=") {
			t.Errorf("no token: %d, WWW-Authenticate %q", status, wa)
		}
		// The token in the query string is not read (RFC 6750 §2.3).
		inQuery, _ := http.NewRequest(http.MethodGet, ep+"?access_token="+url.QueryEscape(accessToken), nil)
		if status, _, _ := do(t, inQuery); status != http.StatusUnauthorized {
			t.Errorf("token in the query string: %d, want 401", status)
		}
		tampered := accessToken[:len(accessToken)-4] + flip(accessToken[len(accessToken)-4:])
		for name, tok := range map[string]string{
			"garbage":                      "not-a-token",
			"a tampered signature":         tampered,
			"an ID token (typ JWT)":        rawID,
			"a token signed by a stranger": newClientKey(t).sign(t, "at+jwt", map[string]any{"iss": srv.URL, "aud": srv.URL, "sub": idt.Subject, "client_id": dept.ID, "scope": "openid", "jti": "x.y", "iat": time.Now().Unix(), "exp": time.Now().Unix() + 60}),
		} {
			status, h, _ := callUserinfo(t, srv, tok)
			if wa := h.Get("WWW-Authenticate"); status != http.StatusUnauthorized || !strings.HasPrefix(wa, "Bearer") || !strings.Contains(wa, `error="invalid_token"`) {
				t.Errorf("%s: %d, WWW-Authenticate %q; want 401 with error=\"invalid_token\" (RFC 6750 §3.1)", name, status, wa)
			}
		}
		// A client's own token is valid but has no resident: 403.
		status, h, _ = callUserinfo(t, srv, ccToken)
		if wa := h.Get("WWW-Authenticate"); status != http.StatusForbidden || !strings.Contains(wa, `error="insufficient_scope"`) {
			t.Errorf("client-credentials token: %d, WWW-Authenticate %q; want 403 insufficient_scope (RFC 6750 §3.1)", status, wa)
		}
	})
}

// TestSpec_TokenEndpointErrors checks the token endpoint's refusals (RFC
// 6749 §3.2, §5.2): POST only, error codes by cause, 401 for client
// authentication, and no credentials in the URL.
func TestSpec_TokenEndpointErrors(t *testing.T) {
	srv := ownServer(t)
	ep := discovery(t, srv)["token_endpoint"].(string)
	id, secret := registerClient(t, srv, map[string]any{"client_name": "Back-end", "grant_types": []string{"client_credentials"},
		"token_endpoint_auth_method": "client_secret_basic", "scope": "records.read"})
	post := func(target string, basic bool, user, pass string, form url.Values) (int, http.Header, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if basic {
			req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
		}
		status, h, m := do(t, req)
		if status >= 400 && !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
			t.Errorf("error response Content-Type %q, want application/json (RFC 6749 §5.2)", h.Get("Content-Type"))
		}
		return status, h, m
	}
	var descriptions []string
	want := func(what string, status int, m map[string]any, wantStatus int, codes ...string) {
		t.Helper()
		code, _ := m["error"].(string)
		if status != wantStatus || !slices.Contains(codes, code) || m["access_token"] != nil {
			t.Errorf("%s: %d %v, want %d with %v", what, status, m, wantStatus, codes)
		}
		if d, ok := m["error_description"].(string); ok {
			descriptions = append(descriptions, d)
		}
	}

	// Control: the client and its secret work.
	if status, _, m := post(ep, true, id, secret, url.Values{"grant_type": {"client_credentials"}}); status != http.StatusOK {
		t.Fatalf("client credentials: %d %v", status, m)
	}

	req, _ := http.NewRequest(http.MethodGet, ep+"?grant_type=client_credentials", nil)
	req.SetBasicAuth(id, secret)
	if status, h, _ := do(t, req); status != http.StatusMethodNotAllowed || !strings.Contains(h.Get("Allow"), "POST") {
		t.Errorf("GET: %d, Allow %q; want 405 with Allow: POST (RFC 6749 §3.2: POST only)", status, h.Get("Allow"))
	}

	status, _, m := post(ep, true, id, secret, url.Values{})
	want("no grant_type", status, m, http.StatusBadRequest, "invalid_request")
	status, _, m = post(ep, true, id, secret, url.Values{"grant_type": {"urn:example:unknown"}})
	want("an unknown grant_type", status, m, http.StatusBadRequest, "unsupported_grant_type")
	// Grant types others implement and eidp does not advertise: refused
	// as unsupported, or as not allowed for this client.
	for _, g := range []string{"password", "urn:ietf:params:oauth:grant-type:jwt-bearer",
		"urn:ietf:params:oauth:grant-type:token-exchange", "urn:ietf:params:oauth:grant-type:device_code"} {
		status, _, m := post(ep, true, id, secret, url.Values{"grant_type": {g}, "assertion": {"x"}, "username": {"u"}, "password": {"p"},
			"subject_token": {"x"}, "subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"}, "device_code": {"x"}})
		want("grant_type "+g, status, m, http.StatusBadRequest, "unsupported_grant_type", "unauthorized_client")
	}
	codeID, codeSecret := registerClient(t, srv, map[string]any{"client_name": "Front-end", "grant_types": []string{"authorization_code"},
		"redirect_uris": []string{"http://127.0.0.1:1/cb"}, "token_endpoint_auth_method": "client_secret_basic", "scope": "openid"})
	status, _, m = post(ep, true, codeID, codeSecret, url.Values{"grant_type": {"authorization_code"}, "code": {"no-such-code"},
		"redirect_uri": {"http://127.0.0.1:1/cb"}, "code_verifier": {oauth2.GenerateVerifier()}})
	want("an unknown code", status, m, http.StatusBadRequest, "invalid_grant")
	status, _, m = post(ep, true, codeID, codeSecret, url.Values{"grant_type": {"client_credentials"}})
	want("a grant the client is not registered for", status, m, http.StatusBadRequest, "unauthorized_client")

	// RFC 6749 §5.2: invalid_client with 401; a client that tried the
	// Authorization header gets a WWW-Authenticate challenge for it.
	status, h, m := post(ep, true, id, secret+"x", url.Values{"grant_type": {"client_credentials"}})
	want("a wrong client secret", status, m, http.StatusUnauthorized, "invalid_client")
	if !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("a wrong client secret in the Authorization header: WWW-Authenticate %q, want a Basic challenge (RFC 6749 §5.2: MUST)", h.Get("WWW-Authenticate"))
	}
	status, _, m = post(ep, true, "no-such-client", secret, url.Values{"grant_type": {"client_credentials"}})
	want("an unknown client", status, m, http.StatusUnauthorized, "invalid_client")
	status, _, m = post(ep, false, "", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}})
	want("a client_secret_basic client posting its secret (OIDC Core §9)", status, m, http.StatusUnauthorized, "invalid_client")
	status, _, m = post(ep, false, "", "", url.Values{"grant_type": {"client_credentials"}})
	// RFC 6749 §5.2 names this case: invalid_client, "no client
	// authentication included".
	want("no client authentication", status, m, http.StatusUnauthorized, "invalid_client")

	// RFC 6749 §2.3.1, §3.2: credentials belong in the header or body,
	// never the URL, where they end up in logs.
	status, _, m = post(ep+"?"+url.Values{"client_id": {id}, "client_secret": {secret}}.Encode(), false, "", "",
		url.Values{"grant_type": {"client_credentials"}})
	want("credentials in the query string", status, m, http.StatusBadRequest, "invalid_request")
	status, _, m = post(ep+"?grant_type=client_credentials", true, id, secret, url.Values{})
	want("parameters in the query string", status, m, http.StatusBadRequest, "invalid_request")

	checkDescriptions(t, descriptions)
}

// TestSpec_AuthorizationErrorDescriptions: error_description in an
// authorization error response (RFC 6749 §4.1.2.1) and at the PAR endpoint
// (RFC 9126 §2.3, by RFC 6749 §5.2) is limited to printable ASCII without
// '"' and '\', like at the token endpoint.
func TestSpec_AuthorizationErrorDescriptions(t *testing.T) {
	srv := ownServer(t)
	key := newClientKey(t)
	dept := newRP(t, srv, "127.0.0.1", map[string]any{"jwks": key.jwks()})
	var descriptions []string
	u, a := dept.authURL(oauth2.SetAuthURLParam("scope", "openid records.write"))
	descriptions = append(descriptions, dept.errorRedirect(t, u, a.state).Get("error_description"))
	now := time.Now().Unix()
	badAud := key.sign(t, "oauth-authz-req+jwt", map[string]any{"iss": dept.ID, "aud": "https://other.example", "iat": now, "exp": now + 60,
		"response_type": "code", "client_id": dept.ID, "redirect_uri": dept.URL + "/cb", "scope": "openid"})
	u = srv.URL + "/authorize?" + url.Values{"client_id": {dept.ID}, "response_type": {"code"}, "scope": {"openid"},
		"redirect_uri": {dept.URL + "/cb"}, "state": {"s"}, "request": {badAud}}.Encode()
	descriptions = append(descriptions, dept.errorRedirect(t, u, "s").Get("error_description"))
	_, a = dept.authURL()
	if status, m := dept.push(a, url.Values{"request": {badAud}}); status != http.StatusBadRequest {
		t.Errorf("PAR with a bad request object: %d %v", status, m)
	} else if d, ok := m["error_description"].(string); ok {
		descriptions = append(descriptions, d)
	}
	checkDescriptions(t, descriptions)
}

// ---- helpers -----------------------------------------------------------

// checkDescriptions asserts RFC 6749 §5.2's character set for
// error_description: %x20-21 / %x23-5B / %x5D-7E (printable ASCII
// without '"' and '\'), so that it fits in a WWW-Authenticate quoted string.
//
// It also asserts that no Go error chain leaks into it ("clientauth: …"):
// DESIGN.md, internal details only in logs.
func checkDescriptions(t *testing.T, descriptions []string) {
	t.Helper()
	for _, d := range descriptions {
		if m := goErrorPrefix.FindString(d); m != "" {
			t.Errorf("error_description %q carries the internal error prefix %q", d, m)
		}
		for _, r := range d {
			if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
				t.Errorf("error_description %q has %q, outside %%x20-21 / %%x23-5B / %%x5D-7E (RFC 6749 §5.2)", d, r)
				break
			}
		}
	}
}

var goErrorPrefix = regexp.MustCompile(`\b(clientauth|provider|grant|client|jwks|session|consent|claims|subject|fetch): `)

// rfc8176AMR are the registered Authentication Method Reference values
// (RFC 8176 §2).
var rfc8176AMR = []string{"face", "fpt", "geo", "hwk", "iris", "kba", "mca", "mfa", "otp", "pin", "pop", "pwd",
	"rba", "retina", "sc", "sms", "swk", "tel", "user", "vbm", "wia"}

// checkSignedJWT verifies a compact JWS with the provider's published key
// named by its kid, asserts its alg, and returns its header and claims.
func checkSignedJWT(t *testing.T, raw string, set jose.JSONWebKeySet, alg jose.SignatureAlgorithm) (jose.Header, map[string]any) {
	t.Helper()
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.PS256})
	if err != nil || len(jws.Signatures) != 1 {
		t.Fatalf("not a compact JWS with one signature: %v", err)
	}
	h := jws.Signatures[0].Header
	if h.Algorithm != string(alg) {
		t.Errorf("alg %s, want %s", h.Algorithm, alg)
	}
	keys := set.Key(h.KeyID)
	if h.KeyID == "" || len(keys) != 1 {
		t.Fatalf("kid %q names %d keys of the JWKS", h.KeyID, len(keys))
	}
	payload, err := jws.Verify(keys[0].Key)
	if err != nil {
		t.Fatalf("the signature does not verify with the published key %s: %v", h.KeyID, err)
	}
	var c map[string]any
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	return h, c
}

// leftHalfHash is at_hash for ES256, RS256 and PS256 (OIDC Core
// §3.1.3.6): base64url of the left half of SHA-256 of the token's ASCII.
func leftHalfHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

// num reads a JSON number (0 if it is not one).
func num(v any) float64 {
	f, _ := v.(float64)
	return f
}

func toStrings(v any) []string {
	var out []string
	if a, ok := v.([]any); ok {
		for _, x := range a {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

// flip changes a base64url string so that it decodes differently.
func flip(s string) string {
	b := []byte(s)
	for i := range b {
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
	}
	return string(b)
}
