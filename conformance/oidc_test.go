package conformance

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// rp is a relying party built the way a department would build one: the
// stock go-oidc and x/oauth2 libraries, configured from discovery, with
// a client registered by an operator through `eidp clients create`.
type rp struct {
	t        *testing.T
	eidp     *server
	ID       string
	Secret   string
	URL      string // the relying party's own base URL
	provider *oidc.Provider
	config   oauth2.Config
	verifier *oidc.IDTokenVerifier
	// logoutTokens receives the back-channel logout tokens POSTed to
	// URL/backchannel.
	logoutTokens chan string
}

// rpHost picks the host name the relying party is reached at, which is
// also its pairwise sector: 127.0.0.1 and localhost are two sectors.
func newRP(t *testing.T, srv *server, host string, meta map[string]any) *rp {
	t.Helper()
	r := &rp{t: t, eidp: srv, logoutTokens: make(chan string, 8)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /cb", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "callback") })
	mux.HandleFunc("GET /loggedout", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "logged out") })
	mux.HandleFunc("POST /backchannel", func(w http.ResponseWriter, req *http.Request) {
		req.ParseForm()
		r.logoutTokens <- req.PostForm.Get("logout_token")
		w.WriteHeader(http.StatusOK)
	})
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	r.URL = strings.Replace(hs.URL, "127.0.0.1", host, 1)

	md := map[string]any{
		"client_name":                "Test department " + host,
		"redirect_uris":              []string{r.URL + "/cb"},
		"post_logout_redirect_uris":  []string{r.URL + "/loggedout"},
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"token_endpoint_auth_method": "client_secret_basic",
		"scope":                      "openid profile",
		"backchannel_logout_uri":     r.URL + "/backchannel",
	}
	for k, v := range meta {
		md[k] = v
	}
	r.ID, r.Secret = registerClient(t, srv, md)

	ctx := context.Background()
	p, err := oidc.NewProvider(ctx, srv.URL)
	if err != nil {
		t.Fatalf("go-oidc discovery: %v", err)
	}
	r.provider = p
	r.config = oauth2.Config{ClientID: r.ID, ClientSecret: r.Secret, Endpoint: p.Endpoint(),
		RedirectURL: r.URL + "/cb", Scopes: strings.Fields(md["scope"].(string))}
	r.verifier = p.Verifier(&oidc.Config{ClientID: r.ID})
	return r
}

// registerClient registers a client with the operator's CLI and returns
// its ID and secret.
func registerClient(t *testing.T, srv *server, md map[string]any) (id, secret string) {
	t.Helper()
	body, _ := json.Marshal(md)
	cmd := exec.Command(binary, "clients", "create", "--metadata", "-")
	cmd.Env = srv.env
	cmd.Stdin = strings.NewReader(string(body))
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("eidp clients create: %v\n%s", err, stderr)
	}
	var got struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal(out, &got); err != nil || got.ClientID == "" {
		t.Fatalf("eidp clients create printed %q: %v", out, err)
	}
	return got.ClientID, got.ClientSecret
}

// authRequest is one authorization request's secrets.
type authRequest struct {
	state, nonce, verifier string
}

func randomValue() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// authURL is the authorization request URL with PKCE S256, state and nonce.
func (r *rp) authURL(opts ...oauth2.AuthCodeOption) (string, authRequest) {
	a := authRequest{state: randomValue(), nonce: randomValue(), verifier: oauth2.GenerateVerifier()}
	opts = append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(a.verifier), oidc.Nonce(a.nonce)}, opts...)
	return r.config.AuthCodeURL(a.state, opts...), a
}

// visit sends the browser to an absolute URL.
func (tb *tab) visit(u string) {
	tb.t.Helper()
	tb.do(chromedp.Navigate(u))
}

// callback waits until the browser is at the relying party's redirect URI
// and returns the authorization response; it checks state and RFC 9207 iss.
func (r *rp) callback(tb *tab, a authRequest) url.Values {
	tb.t.Helper()
	href := tb.waitFor("the relying party's callback", `location.href.startsWith(`+jsString(r.URL+"/cb?")+`) && location.href`)
	u, err := url.Parse(href)
	if err != nil {
		tb.fatalf("callback URL %q: %v", href, err)
	}
	q := u.Query()
	if q.Get("state") != a.state {
		tb.fatalf("callback state %q, want %q", q.Get("state"), a.state)
	}
	if q.Get("iss") != r.eidp.URL {
		tb.fatalf("callback iss %q, want %q (RFC 9207)", q.Get("iss"), r.eidp.URL)
	}
	return q
}

// authorize runs an authorization in the browser, answering the consent
// page if it comes (allow, unticking the claims in untick), and returns the
// response at the callback.
func (r *rp) authorize(tb *tab, untick []string, opts ...oauth2.AuthCodeOption) (url.Values, authRequest) {
	tb.t.Helper()
	u, a := r.authURL(opts...)
	tb.visit(u)
	where := tb.waitFor("consent or callback", `(location.pathname === "/consent" && document.readyState === "complete" && "consent") ||
		(location.href.startsWith(`+jsString(r.URL+"/cb?")+`) && "callback")`)
	if where == "consent" {
		for _, c := range untick {
			tb.click(`input[name=claim][value="` + c + `"]`)
		}
		tb.click("#consent-allow")
	}
	return r.callback(tb, a), a
}

// exchange redeems the code like a department back-end: x/oauth2 with the
// PKCE verifier, then go-oidc verifies the ID token and its nonce.
func (r *rp) exchange(q url.Values, a authRequest) (*oauth2.Token, *oidc.IDToken) {
	r.t.Helper()
	if e := q.Get("error"); e != "" {
		r.t.Fatalf("authorization error %s: %s", e, q.Get("error_description"))
	}
	ctx := context.Background()
	tok, err := r.config.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(a.verifier))
	if err != nil {
		r.t.Fatalf("code exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := r.verifier.Verify(ctx, raw)
	if err != nil {
		r.t.Fatalf("go-oidc rejects the ID token: %v", err)
	}
	if idt.Nonce != a.nonce {
		r.t.Fatalf("ID token nonce %q, want %q", idt.Nonce, a.nonce)
	}
	return tok, idt
}

// userinfo calls the UserInfo endpoint with go-oidc.
func (r *rp) userinfo(tok *oauth2.Token) map[string]any {
	r.t.Helper()
	ui, err := r.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok))
	if err != nil {
		r.t.Fatalf("userinfo: %v", err)
	}
	var m map[string]any
	if err := ui.Claims(&m); err != nil {
		r.t.Fatal(err)
	}
	return m
}

// idClaims decodes an ID token's claims.
func idClaims(t *testing.T, idt *oidc.IDToken) map[string]any {
	t.Helper()
	var m map[string]any
	if err := idt.Claims(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// postForm posts a form with HTTP Basic client authentication and decodes
// the JSON answer.
func postForm(t *testing.T, endpoint, id, secret string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	body, _ := io.ReadAll(resp.Body)
	if len(body) > 0 {
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("POST %s: %d, not JSON: %q", endpoint, resp.StatusCode, body)
		}
	}
	return resp.StatusCode, m
}

// discovery returns the provider metadata as JSON.
func discovery(t *testing.T, srv *server) map[string]any {
	t.Helper()
	resp, err := http.Get(srv.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// push sends a pushed authorization request (RFC 9126) and returns the
// request_uri.
func (r *rp) push(a authRequest, extra url.Values) (int, map[string]any) {
	r.t.Helper()
	sum := oauth2.S256ChallengeFromVerifier(a.verifier)
	form := url.Values{
		"response_type": {"code"}, "client_id": {r.ID}, "redirect_uri": {r.config.RedirectURL},
		"scope": {strings.Join(r.config.Scopes, " ")}, "state": {a.state}, "nonce": {a.nonce},
		"code_challenge": {sum}, "code_challenge_method": {"S256"},
	}
	for k, v := range extra {
		form[k] = v
	}
	return postForm(r.t, discovery(r.t, r.eidp)["pushed_authorization_request_endpoint"].(string), r.ID, r.Secret, form)
}

var _ = time.Second
