package eidpflow

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"

	"eidp/bench/loadgen"
	"eidp/bench/seed/population"
	"eidp/idp/passkey/passkeytest"
)

// Failure kinds (loadgen.Failure.Kind): one per step of the flow, so a
// report says where the flow broke. The engine adds "transport" and
// "context".
const (
	KindPAR          = "par"           // the pushed authorization request (RFC 9126 §2)
	KindAuthorize    = "authorize"     // the authorization endpoint did not send the browser to log in
	KindLoginPage    = "login_page"    // the login page, its flow cookie or CSRF token
	KindLoginOptions = "login_options" // POST /api/passkey/login/options
	KindPasskey      = "passkey"       // the assertion: made by the authenticator, refused by the server
	KindResume       = "resume"        // after login, the authorization did not come back with a code
	KindConsent      = "consent"       // the server asked for consent: none remembered for this resident
	KindToken        = "token"         // the token endpoint (authorization code grant, PKCE)
	KindIDToken      = "id_token"      // ID token validation (OIDC Core §3.1.3.7)
	KindUserinfo     = "userinfo"      // the UserInfo response (OIDC Core §5.3)
	KindVaultClaims  = "vault_claims"  // a vault claim missing or of the wrong shape
)

// maxBody bounds every response body read.
const maxBody = 1 << 20

// flow is the browser-less login of a seeded resident, shared by both
// scenarios.
type flow struct {
	cfg    LoginFlowConfig
	origin string // the issuer's origin: the WebAuthn origin of the assertions
	ep     struct{ issuer, authorize, par, token, userinfo string }
	keys   *keySet
}

func newFlow(cfg LoginFlowConfig) (*flow, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	u, _ := url.Parse(cfg.Issuer)
	return &flow{cfg: cfg, origin: u.Scheme + "://" + u.Host}, nil
}

// setup reads discovery (OpenID Connect Discovery 1.0 §4) and the JWKS.
func (f *flow) setup(ctx context.Context, c *http.Client) error {
	base := strings.TrimSuffix(f.cfg.Issuer, "/")
	var doc struct {
		Issuer   string `json:"issuer"`
		Auth     string `json:"authorization_endpoint"`
		PAR      string `json:"pushed_authorization_request_endpoint"`
		Token    string `json:"token_endpoint"`
		Userinfo string `json:"userinfo_endpoint"`
		JWKS     string `json:"jwks_uri"`
	}
	if err := getJSON(ctx, c, base+"/.well-known/openid-configuration", "discovery", &doc); err != nil {
		return err
	}
	// §4.3: the issuer in the document is the one asked for.
	if doc.Issuer != f.cfg.Issuer {
		return fmt.Errorf("%w: discovery names issuer %q, not %q", ErrConfig, doc.Issuer, f.cfg.Issuer)
	}
	if doc.Auth == "" || doc.PAR == "" || doc.Token == "" || doc.Userinfo == "" || doc.JWKS == "" {
		return fmt.Errorf("%w: discovery lacks an endpoint the flow needs (authorization, PAR, token, userinfo, JWKS)", ErrConfig)
	}
	f.ep.issuer, f.ep.authorize, f.ep.par, f.ep.token, f.ep.userinfo = doc.Issuer, doc.Auth, doc.PAR, doc.Token, doc.Userinfo
	f.keys = &keySet{uri: doc.JWKS}
	return f.keys.fetch(ctx, c)
}

// login is what one login gives.
type login struct {
	accessToken, idToken string
	claims               idTokenClaims
	userinfo             map[string]any
}

// login runs the whole flow for resident index with scope and returns the
// tokens and the UserInfo response. responded, if not nil, is called once
// the last response has been read, before the ID token is verified.
func (f *flow) login(ctx context.Context, base *http.Client, index int, scope string, responded func()) (login, error) {
	var out login
	jar, _ := cookiejar.New(nil) // one browser per login
	c := &http.Client{Transport: base.Transport, Jar: jar, Timeout: base.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	r := population.Derive(f.cfg.KeySeed, index)

	// 1. PAR with PKCE S256, state and nonce (RFC 9126 §2, RFC 7636 §4).
	verifier, state, nonce := random(32), random(16), random(16)
	challenge := sha256.Sum256([]byte(verifier))
	form := url.Values{
		"response_type": {"code"}, "client_id": {f.cfg.ClientID}, "redirect_uri": {f.cfg.RedirectURI},
		"scope": {scope}, "state": {state}, "nonce": {nonce},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(challenge[:])}, "code_challenge_method": {"S256"},
	}
	resp, body, err := f.post(ctx, c, f.ep.par, form, true)
	if err != nil {
		return out, err
	}
	if resp.StatusCode != http.StatusCreated {
		return out, statusFailure(KindPAR, "PAR", resp.StatusCode, http.StatusCreated, body)
	}
	var pushed struct {
		RequestURI string `json:"request_uri"`
		ExpiresIn  int    `json:"expires_in"`
	}
	if err := decodeJSON(resp, body, &pushed); err != nil || pushed.RequestURI == "" || pushed.ExpiresIn <= 0 {
		return out, loadgen.Fail(KindPAR, "PAR: the response is not {request_uri, expires_in} JSON (%v)", err)
	}

	// 2. The authorization endpoint sends a browser without a session to
	// log in, with the request to resume as the return path.
	authz := f.ep.authorize + "?" + url.Values{"client_id": {f.cfg.ClientID}, "request_uri": {pushed.RequestURI}}.Encode()
	resp, body, err = get(ctx, c, authz, nil)
	if err != nil {
		return out, err
	}
	loginURL, err := f.redirect(resp, KindAuthorize, "authorize")
	if err != nil {
		return out, err
	}
	next := loginURL.Query().Get("next")
	if loginURL.Path != "/login" || !strings.HasPrefix(next, "/authorize/") {
		return out, loadgen.Fail(KindAuthorize, "authorize: redirected to %s, want /login?next=/authorize/…", loginURL.Path)
	}

	// 3. The login page: the flow cookie and the CSRF token it embeds.
	resp, body, err = get(ctx, c, loginURL.String(), nil)
	if err != nil {
		return out, err
	}
	if resp.StatusCode != http.StatusOK {
		return out, statusFailure(KindLoginPage, "login page", resp.StatusCode, http.StatusOK, body)
	}
	m := csrfMeta.FindSubmatch(body)
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/html" || m == nil || !strings.Contains(string(body), `id="login"`) {
		return out, loadgen.Fail(KindLoginPage, "login page: not the HTML login page with a CSRF token (content type %q)", resp.Header.Get("Content-Type"))
	}
	csrf := string(m[1])
	if len(jar.Cookies(loginURL)) == 0 {
		return out, loadgen.Fail(KindLoginPage, "login page: no flow cookie was set")
	}

	// 4. The login ceremony's options (WebAuthn L3 §5.5, JSON form).
	api := func(path string) string {
		return (&url.URL{Scheme: loginURL.Scheme, Host: loginURL.Host, Path: path}).String()
	}
	resp, body, err = postJSON(ctx, c, api("/api/passkey/login/options"), csrf, []byte("{}"))
	if err != nil {
		return out, err
	}
	if resp.StatusCode != http.StatusOK {
		return out, statusFailure(KindLoginOptions, "login options", resp.StatusCode, http.StatusOK, body)
	}
	var opts struct {
		Challenge string `json:"challenge"`
		RPID      string `json:"rpId"`
	}
	if err := decodeJSON(resp, body, &opts); err != nil || opts.Challenge == "" {
		return out, loadgen.Fail(KindLoginOptions, "login options: not request options JSON with a challenge (%v)", err)
	}
	rpID := opts.RPID
	if rpID == "" {
		rpID = loginURL.Hostname() // §5.1.4.1: the origin's effective domain
	}

	// 5. The resident's phone: a discoverable credential for the RP ID,
	// user-verified, counter 0 (every login here is a new authenticator).
	phone := passkeytest.NewAuthenticator(f.origin, passkeytest.WithCounter(passkeytest.CounterZero))
	phone.AddCredential(r.CredentialID, r.Key, []byte(r.ID), rpID)
	assertion, err := phone.Get(body)
	if err != nil {
		return out, loadgen.Fail(KindPasskey, "the authenticator refused the options: %v", err)
	}
	req, _ := json.Marshal(map[string]any{"response": json.RawMessage(assertion), "next": next})
	resp, body, err = postJSON(ctx, c, api("/api/passkey/login"), csrf, req)
	if err != nil {
		return out, err
	}
	if resp.StatusCode != http.StatusOK {
		return out, statusFailure(KindPasskey, fmt.Sprintf("login of resident %d", index), resp.StatusCode, http.StatusOK, body)
	}
	var result struct {
		Redirect string `json:"redirect"`
	}
	if err := decodeJSON(resp, body, &result); err != nil || result.Redirect != next {
		return out, loadgen.Fail(KindPasskey, "login of resident %d: the answer does not return to the authorization (%v)", index, err)
	}

	// 6. Resume: consent is remembered, so the code comes back at once
	// (RFC 6749 §4.1.2, RFC 9207 iss).
	resp, body, err = get(ctx, c, api("")+next, nil)
	if err != nil {
		return out, err
	}
	back, err := f.redirect(resp, KindResume, "resume")
	if err != nil {
		return out, err
	}
	if back.Path == "/consent" && back.Host == loginURL.Host {
		return out, loadgen.Fail(KindConsent, "resident %d is asked for consent: seed the population for this client (eidp dev seed, with --vault for vault-release)", index)
	}
	code, err := f.codeFrom(back, state)
	if err != nil {
		return out, err
	}

	// 7. The code for tokens (RFC 6749 §4.1.3, RFC 7636 §4.5).
	resp, body, err = f.post(ctx, c, f.ep.token, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {f.cfg.RedirectURI}, "code_verifier": {verifier}}, true)
	if err != nil {
		return out, err
	}
	if resp.StatusCode != http.StatusOK {
		return out, statusFailure(KindToken, "token", resp.StatusCode, http.StatusOK, body)
	}
	var tokens struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
		IDToken     string `json:"id_token"`
	}
	if err := decodeJSON(resp, body, &tokens); err != nil || tokens.AccessToken == "" || tokens.IDToken == "" ||
		!strings.EqualFold(tokens.TokenType, "Bearer") || tokens.ExpiresIn <= 0 {
		return out, loadgen.Fail(KindToken, "token: not a Bearer token response with access_token, expires_in and id_token (%v)", err)
	}
	out.accessToken, out.idToken = tokens.AccessToken, tokens.IDToken

	// 8. UserInfo with the access token (OIDC Core §5.3).
	if out.userinfo, err = f.userinfo(ctx, c, out.accessToken); err != nil {
		return out, err
	}
	if responded != nil {
		responded()
	}

	// 9. The ID token (OIDC Core §3.1.3.7) and the subject both name.
	if out.claims, err = verifyIDToken(ctx, c, f.keys, out.idToken, f.ep.issuer, f.cfg.ClientID, nonce); err != nil {
		return out, err
	}
	if sub, _ := out.userinfo["sub"].(string); sub != out.claims.Subject {
		return out, loadgen.Fail(KindUserinfo, "userinfo's sub is not the ID token's (OIDC Core §5.3.2)")
	}
	return out, nil
}

// userinfo fetches the UserInfo response for an access token.
func (f *flow) userinfo(ctx context.Context, c *http.Client, accessToken string) (map[string]any, error) {
	resp, body, err := get(ctx, c, f.ep.userinfo, http.Header{"Authorization": {"Bearer " + accessToken}, "Accept": {"application/json"}})
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, statusFailure(KindUserinfo, "userinfo", resp.StatusCode, http.StatusOK, body)
	}
	var claims map[string]any
	if err := decodeJSON(resp, body, &claims); err != nil {
		return nil, loadgen.Fail(KindUserinfo, "userinfo: %v", err)
	}
	if sub, _ := claims["sub"].(string); sub == "" {
		return nil, loadgen.Fail(KindUserinfo, "userinfo has no sub")
	}
	return claims, nil
}

// redirect checks a 303 and returns its Location, resolved. An error
// redirect to the client is reported with its error code.
func (f *flow) redirect(resp *http.Response, kind, what string) (*url.URL, error) {
	if resp.StatusCode != http.StatusSeeOther {
		return nil, loadgen.Fail(kind, "%s: status %d, want a 303 redirect", what, resp.StatusCode)
	}
	loc, err := resp.Location()
	if err != nil {
		return nil, loadgen.Fail(kind, "%s: a 303 without a usable Location", what)
	}
	if e := loc.Query().Get("error"); e != "" && strings.HasPrefix(loc.String(), f.cfg.RedirectURI) {
		return nil, loadgen.Fail(kind, "%s: the server answered the client with error %q", what, truncate(e))
	}
	return loc, nil
}

// codeFrom checks the authorization response at the redirect URI: code,
// the state sent, and iss (RFC 9207 §2.4).
func (f *flow) codeFrom(back *url.URL, state string) (string, error) {
	q := back.Query()
	base := *back
	base.RawQuery = ""
	if base.String() != f.cfg.RedirectURI {
		return "", loadgen.Fail(KindResume, "resume: redirected to %s, not the client's redirect URI", base.Path)
	}
	switch {
	case q.Get("code") == "":
		return "", loadgen.Fail(KindResume, "resume: no code in the authorization response")
	case q.Get("state") != state:
		return "", loadgen.Fail(KindResume, "resume: the state is not the one sent")
	case q.Get("iss") != f.ep.issuer:
		return "", loadgen.Fail(KindResume, "resume: iss %q, want the issuer (RFC 9207)", truncate(q.Get("iss")))
	}
	return q.Get("code"), nil
}

// post sends a form, with client authentication when auth is set:
// client_secret_basic (RFC 6749 §2.3.1: the ID and secret form-encoded,
// then Basic), or, for a public client (no secret), client_id in the body.
func (f *flow) post(ctx context.Context, c *http.Client, target string, form url.Values, auth bool) (*http.Response, []byte, error) {
	if auth && f.cfg.ClientSecret == "" {
		form.Set("client_id", f.cfg.ClientID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if auth && f.cfg.ClientSecret != "" {
		req.SetBasicAuth(url.QueryEscape(f.cfg.ClientID), url.QueryEscape(f.cfg.ClientSecret))
	}
	return do(c, req)
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

func get(ctx context.Context, c *http.Client, target string, h http.Header) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, nil, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	return do(c, req)
}

// postJSON is a call of the ceremony API as the login page's script makes
// it: JSON, with the page's CSRF token in X-CSRF-Token.
func postJSON(ctx context.Context, c *http.Client, target, csrf string, body []byte) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(string(body)))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", csrf)
	return do(c, req)
}

// do sends req and reads the whole (bounded) body, so the connection is
// reused.
func do(c *http.Client, req *http.Request) (*http.Response, []byte, error) {
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, nil, err
	}
	io.Copy(io.Discard, resp.Body)
	return resp, body, nil
}

// getJSON fetches a JSON document (discovery, JWKS) for Setup.
func getJSON(ctx context.Context, c *http.Client, target, what string, v any) error {
	resp, body, err := get(ctx, c, target, http.Header{"Accept": {"application/json"}})
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s at %s: status %d", what, target, resp.StatusCode)
	}
	if err := decodeJSON(resp, body, v); err != nil {
		return fmt.Errorf("%s at %s: %w", what, target, err)
	}
	return nil
}

var errNotJSON = errors.New("not a JSON body")

func decodeJSON(resp *http.Response, body []byte, v any) error {
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		return fmt.Errorf("%w (content type %q)", errNotJSON, resp.Header.Get("Content-Type"))
	}
	return json.Unmarshal(body, v)
}

// statusFailure reports an unexpected status with the OAuth error code of
// the body, if it has one, but never the body itself.
func statusFailure(kind, what string, status, want int, body []byte) *loadgen.Failure {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return loadgen.Fail(kind, "%s: status %d (error %q), want %d", what, status, truncate(e.Error), want)
	}
	return loadgen.Fail(kind, "%s: status %d, want %d", what, status, want)
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

func random(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
