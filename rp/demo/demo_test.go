package demo_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"eidp/rp/demo"
)

// rig is a fake provider, the demo served by an httptest server, and a
// browser (cookie jar, redirects followed by hand).
type rig struct {
	op      *fakeOP
	h       *demo.Handler
	demoURL string
	browser *http.Client
}

func newRig(t *testing.T) *rig {
	t.Helper()
	op := newFakeOP(t)
	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(mux)
	srv.Start()
	t.Cleanup(srv.Close)
	h, err := demo.New(demo.Config{
		Issuer:       op.issuer(),
		ClientID:     op.clientID,
		ClientSecret: op.secret,
		RedirectURL:  srv.URL + "/demo/callback",
		HTTPClient:   op.srv.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}
	h.Register(mux)
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	browser := &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &rig{op: op, h: h, demoURL: srv.URL, browser: browser}
}

type response struct {
	status   int
	location string
	body     string
	header   http.Header
	cookies  []*http.Cookie
}

func (r *rig) do(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := r.browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(b), header: resp.Header, cookies: resp.Cookies()}
}

func (r *rig) get(t *testing.T, u string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r.do(t, req)
}

func (r *rig) post(t *testing.T, u string, form url.Values) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r.do(t, req)
}

// startLogin goes from /demo/login through the provider's (auto-approving)
// authorization endpoint and stops before the callback, returning the
// authorization request and the callback URL the provider sent back.
func (r *rig) startLogin(t *testing.T, query string) (authz, callback *url.URL) {
	t.Helper()
	res := r.get(t, r.demoURL+"/demo/login?"+query)
	if res.status != http.StatusFound {
		t.Fatalf("/demo/login: status %d, body %s", res.status, res.body)
	}
	authz, err := url.Parse(res.location)
	if err != nil {
		t.Fatal(err)
	}
	res = r.get(t, authz.String())
	if res.status != http.StatusFound {
		t.Fatalf("authorize: status %d, body %s", res.status, res.body)
	}
	callback, err = url.Parse(res.location)
	if err != nil {
		t.Fatal(err)
	}
	return authz, callback
}

// withQuery returns u with key set to value (or removed when value is nil).
func withQuery(u *url.URL, key string, value *string) string {
	c := *u
	q := c.Query()
	if value == nil {
		q.Del(key)
	} else {
		q.Set(key, *value)
	}
	c.RawQuery = q.Encode()
	return c.String()
}

func ptr(s string) *string { return &s }

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func TestHomePageOffersLoginAndSaysItIsADevelopmentDemo(t *testing.T) {
	r := newRig(t)
	res := r.get(t, r.demoURL+"/demo")
	if res.status != http.StatusOK {
		t.Fatalf("status %d", res.status)
	}
	for _, want := range []string{"Development mode only", `action="/demo/login"`, "Log in with eidp", `name="idcard"`, `name="prompt" value="login"`, "/demo/static/demo.css"} {
		if !strings.Contains(res.body, want) {
			t.Errorf("home page lacks %q", want)
		}
	}
	if strings.Contains(res.body, "<style") || strings.Contains(res.body, "<script") || strings.Contains(res.body, "style=") {
		t.Error("home page has inline style or script, which the CSP forbids")
	}
	css := r.get(t, r.demoURL+"/demo/static/demo.css")
	if css.status != http.StatusOK || !strings.HasPrefix(css.header.Get("Content-Type"), "text/css") || !strings.Contains(css.body, ".button") {
		t.Errorf("stylesheet: status %d, type %q", css.status, css.header.Get("Content-Type"))
	}
	if r.op.exchanges != 0 || r.op.lastAuth != nil {
		t.Error("the home page talked to the provider")
	}
}

func TestLoginRedirectsWithStateNonceAndPKCE(t *testing.T) {
	r := newRig(t)
	res := r.get(t, r.demoURL+"/demo/login")
	if res.status != http.StatusFound {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	authz, err := url.Parse(res.location)
	if err != nil {
		t.Fatal(err)
	}
	if got := authz.Scheme + "://" + authz.Host + authz.Path; got != r.op.issuer()+"/authorize" {
		t.Errorf("redirected to %s, want the discovered authorization endpoint", got)
	}
	q := authz.Query()
	want := map[string]string{
		"response_type":         "code",
		"client_id":             r.op.clientID,
		"redirect_uri":          r.demoURL + "/demo/callback",
		"scope":                 "openid profile",
		"code_challenge_method": "S256",
	}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, q.Get(k), v)
		}
	}
	if len(q.Get("code_challenge")) != 43 {
		t.Errorf("code_challenge %q is not a base64url SHA-256", q.Get("code_challenge"))
	}
	for _, k := range []string{"state", "nonce"} {
		if len(q.Get(k)) < 22 {
			t.Errorf("%s %q is missing or too short to be random", k, q.Get(k))
		}
	}
	if q.Has("prompt") || strings.Contains(q.Get("scope"), "eidp:idcard") {
		t.Error("plain login asked for prompt or the ID card")
	}
	var flow *http.Cookie
	for _, c := range res.cookies {
		if c.Name == "eidp_demo_flow" {
			flow = c
		}
	}
	switch {
	case flow == nil:
		t.Fatal("no flow cookie")
	case !flow.HttpOnly || flow.SameSite != http.SameSiteLaxMode || flow.Path != "/demo" || flow.MaxAge <= 0 || flow.MaxAge > 600:
		t.Errorf("flow cookie attributes: %+v", flow)
	case strings.Contains(flow.Value, q.Get("state")) || strings.Contains(flow.Value, q.Get("nonce")):
		t.Error("flow cookie shows state or nonce in the clear")
	}

	again, _ := url.Parse(r.get(t, r.demoURL+"/demo/login").location)
	if again.Query().Get("state") == q.Get("state") || again.Query().Get("nonce") == q.Get("nonce") || again.Query().Get("code_challenge") == q.Get("code_challenge") {
		t.Error("a second login reused state, nonce or PKCE challenge")
	}

	variant, _ := url.Parse(r.get(t, r.demoURL+"/demo/login?idcard=1&prompt=login").location)
	if vq := variant.Query(); vq.Get("scope") != "openid profile eidp:idcard" || vq.Get("prompt") != "login" {
		t.Errorf("variant login: scope %q prompt %q", vq.Get("scope"), vq.Get("prompt"))
	}
	odd, _ := url.Parse(r.get(t, r.demoURL+"/demo/login?prompt=none").location)
	if odd.Query().Has("prompt") {
		t.Errorf("prompt=none was passed on; only prompt=login is offered")
	}
}

func TestGoodCallbackShowsVerifiedClaimsAndUserinfo(t *testing.T) {
	r := newRig(t)
	_, callback := r.startLogin(t, "idcard=1")
	res := r.get(t, callback.String())
	if res.status != http.StatusOK {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	for _, want := range []string{
		`<code class="wrap" id="sub">` + r.op.subject + `</code>`,
		`<code id="alg">ES256</code>`,
		testKID,
		`&#34;nonce&#34;: &#34;` + r.op.lastAuth.Get("nonce") + `&#34;`,
		`&#34;aud&#34;: &#34;` + r.op.clientID + `&#34;`,
		"Chan Tai Man",
		"A123456(3)",
		"urn:eidp:acr:passkey",
		"<code>at_hash</code>",
		`action="/demo/logout"`,
	} {
		if !strings.Contains(res.body, want) {
			t.Errorf("result page lacks %q", want)
		}
	}
	if !regexp.MustCompile(`id="access-expires">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(in (4m5\d|5m0)s\)`).MatchString(res.body) {
		t.Errorf("access token expiry not shown: %s", regexp.MustCompile(`id="access-expires">[^<]*`).FindString(res.body))
	}
	if res.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", res.header.Get("Cache-Control"))
	}
	if r.op.exchanges != 1 {
		t.Errorf("%d token requests, want 1", r.op.exchanges)
	}
	home := r.get(t, r.demoURL+"/demo")
	if !strings.Contains(home.body, "You are logged in to the demo as") || !strings.Contains(home.body, r.op.subject) {
		t.Error("home page does not show the session after login")
	}

	// The flow is single-use: replaying the callback is refused by the demo
	// before it reaches the provider.
	replay := r.get(t, callback.String())
	if replay.status != http.StatusBadRequest || r.op.exchanges != 1 {
		t.Errorf("replayed callback: status %d, %d token requests", replay.status, r.op.exchanges)
	}
}

func TestCallbackRefusesResponsesThatAreNotOurs(t *testing.T) {
	tests := []struct {
		name  string
		setup func(op *fakeOP)
		alter func(r *rig, callback *url.URL) string
	}{
		{"a wrong state is refused", nil, func(r *rig, cb *url.URL) string { return withQuery(cb, "state", ptr("forged-state-value-000000")) }},
		{"a missing state is refused", nil, func(r *rig, cb *url.URL) string { return withQuery(cb, "state", nil) }},
		{"an iss naming another issuer is refused (RFC 9207)", nil, func(r *rig, cb *url.URL) string { return withQuery(cb, "iss", ptr("https://evil.example")) }},
		{"a missing iss is refused when the provider advertises it", nil, func(r *rig, cb *url.URL) string { return withQuery(cb, "iss", nil) }},
		{"a wrong iss is refused even when the provider does not advertise it", func(op *fakeOP) { op.issParam = false }, func(r *rig, cb *url.URL) string {
			return withQuery(cb, "iss", ptr(r.op.issuer()+"/"))
		}},
		{"a missing code is refused", nil, func(r *rig, cb *url.URL) string { return withQuery(cb, "code", nil) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			if tt.setup != nil {
				r.op.set(tt.setup)
			}
			_, callback := r.startLogin(t, "")
			res := r.get(t, tt.alter(r, callback))
			if res.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", res.status)
			}
			if r.op.exchanges != 0 {
				t.Error("the code was exchanged anyway")
			}
			if strings.Contains(res.body, r.op.subject) || !strings.Contains(res.body, "Back to the demo") {
				t.Error("error page is not the readable error page")
			}
			if strings.Contains(r.get(t, r.demoURL+"/demo").body, "You are logged in") {
				t.Error("a session was created")
			}
		})
	}
}

func TestCallbackWithoutIssWorksWhenTheProviderDoesNotAdvertiseIt(t *testing.T) {
	r := newRig(t)
	r.op.set(func(op *fakeOP) { op.issParam = false })
	_, callback := r.startLogin(t, "")
	if callback.Query().Has("iss") {
		t.Fatal("fake provider sent iss")
	}
	if res := r.get(t, callback.String()); res.status != http.StatusOK {
		t.Fatalf("status %d", res.status)
	}
}

func TestIDTokenWithAnotherNonceIsRejected(t *testing.T) {
	r := newRig(t)
	r.op.set(func(op *fakeOP) { op.nonceOverride = "nonce-of-another-login" })
	_, callback := r.startLogin(t, "")
	res := r.get(t, callback.String())
	if res.status != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", res.status)
	}
	if !strings.Contains(res.body, "could not be verified") || strings.Contains(res.body, r.op.subject) {
		t.Error("page does not say the ID token failed, or shows its claims")
	}
	if strings.Contains(r.get(t, r.demoURL+"/demo").body, "You are logged in") {
		t.Error("a session was created")
	}
}

func TestUserinfoAboutAnotherSubjectIsRejected(t *testing.T) {
	r := newRig(t)
	r.op.set(func(op *fakeOP) { op.userinfoSub = "someone-else" })
	_, callback := r.startLogin(t, "")
	res := r.get(t, callback.String())
	if res.status != http.StatusBadGateway || strings.Contains(res.body, "Chan Tai Man") {
		t.Fatalf("status %d, want 502 without the userinfo claims", res.status)
	}
}

func TestTokenEndpointRefusalIsAReadablePage(t *testing.T) {
	r := newRig(t)
	r.op.set(func(op *fakeOP) { op.tokenError = "invalid_grant" })
	_, callback := r.startLogin(t, "")
	res := r.get(t, callback.String())
	if res.status != http.StatusBadRequest || !strings.Contains(res.body, "did not accept the login code") || !strings.Contains(res.body, "invalid_grant") {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
}

func TestProviderErrorResponseIsAReadablePage(t *testing.T) {
	r := newRig(t)
	_, callback := r.startLogin(t, "")
	q := url.Values{
		"error":             {"access_denied"},
		"error_description": {"<script>alert(1)</script> resident declined"},
		"state":             {callback.Query().Get("state")},
		"iss":               {r.op.issuer()},
	}
	res := r.get(t, r.demoURL+"/demo/callback?"+q.Encode())
	if res.status != http.StatusBadRequest {
		t.Fatalf("status %d", res.status)
	}
	for _, want := range []string{"The login did not finish", "you chose not to share your data", "<code>access_denied</code>", "&lt;script&gt;alert(1)&lt;/script&gt; resident declined"} {
		if !strings.Contains(res.body, want) {
			t.Errorf("error page lacks %q", want)
		}
	}
	if strings.Contains(res.body, "<script>") {
		t.Error("error_description was not escaped")
	}
	if r.op.exchanges != 0 {
		t.Error("token endpoint called after an error response")
	}
}

func TestForgedOrExpiredFlowCookieIsRefused(t *testing.T) {
	t.Run("an altered cookie", func(t *testing.T) {
		r := newRig(t)
		_, callback := r.startLogin(t, "")
		u, _ := url.Parse(r.demoURL + "/demo")
		cookies := r.browser.Jar.Cookies(u)
		if len(cookies) != 1 {
			t.Fatalf("cookies: %v", cookies)
		}
		v := []byte(cookies[0].Value)
		v[len(v)/2] ^= 1
		r.browser.Jar.SetCookies(u, []*http.Cookie{{Name: cookies[0].Name, Value: string(v), Path: "/demo"}})
		if res := r.get(t, callback.String()); res.status != http.StatusBadRequest || r.op.exchanges != 0 {
			t.Errorf("status %d, %d exchanges", res.status, r.op.exchanges)
		}
	})
	t.Run("a cookie from an expired login", func(t *testing.T) {
		r := newRig(t)
		_, callback := r.startLogin(t, "")
		r.h.SetNow(func() time.Time { return time.Now().Add(11 * time.Minute) })
		if res := r.get(t, callback.String()); res.status != http.StatusBadRequest || r.op.exchanges != 0 {
			t.Errorf("status %d, %d exchanges", res.status, r.op.exchanges)
		}
	})
	t.Run("no cookie at all", func(t *testing.T) {
		r := newRig(t)
		_, callback := r.startLogin(t, "")
		other := newRig(t) // another browser, same demo
		other.demoURL = r.demoURL
		if res := other.get(t, callback.String()); res.status != http.StatusBadRequest || r.op.exchanges != 0 {
			t.Errorf("status %d, %d exchanges", res.status, r.op.exchanges)
		}
	})
}

func TestDiscoveryFailureIs502ThenRecovers(t *testing.T) {
	r := newRig(t)
	r.op.set(func(op *fakeOP) { op.down = true })
	res := r.get(t, r.demoURL+"/demo/login")
	if res.status != http.StatusBadGateway || !strings.Contains(res.body, "eidp cannot be reached") {
		t.Fatalf("status %d, want 502 page", res.status)
	}
	r.op.set(func(op *fakeOP) { op.down = false })
	_, callback := r.startLogin(t, "")
	if res := r.get(t, callback.String()); res.status != http.StatusOK {
		t.Fatalf("after recovery: status %d", res.status)
	}
}

func TestLogoutGoesToEndSessionWithHint(t *testing.T) {
	r := newRig(t)
	_, callback := r.startLogin(t, "")
	page := r.get(t, callback.String())
	m := csrfField.FindStringSubmatch(page.body)
	if m == nil {
		t.Fatal("no csrf field on the result page")
	}

	forged := r.post(t, r.demoURL+"/demo/logout", url.Values{"csrf": {"not-the-token"}})
	if forged.status != http.StatusForbidden {
		t.Errorf("logout with a wrong csrf token: status %d, want 403", forged.status)
	}
	if !strings.Contains(r.get(t, r.demoURL+"/demo").body, "You are logged in") {
		t.Fatal("a forged logout ended the session")
	}

	res := r.post(t, r.demoURL+"/demo/logout", url.Values{"csrf": {m[1]}})
	if res.status != http.StatusSeeOther {
		t.Fatalf("status %d", res.status)
	}
	loc, err := url.Parse(res.location)
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != r.op.issuer()+"/end_session" {
		t.Errorf("logout went to %s, want the end_session_endpoint", got)
	}
	q := loc.Query()
	if q.Get("id_token_hint") != r.op.lastIDToken || q.Get("id_token_hint") == "" {
		t.Error("id_token_hint is not the ID token the provider issued")
	}
	if q.Get("post_logout_redirect_uri") != r.demoURL+"/demo" || q.Get("client_id") != r.op.clientID {
		t.Errorf("post_logout_redirect_uri %q client_id %q", q.Get("post_logout_redirect_uri"), q.Get("client_id"))
	}
	if strings.Contains(r.get(t, r.demoURL+"/demo").body, "You are logged in") {
		t.Error("session survived logout")
	}
	again := r.post(t, r.demoURL+"/demo/logout", url.Values{"csrf": {m[1]}})
	if again.status != http.StatusSeeOther || again.location != "/demo" {
		t.Errorf("logout without a session: status %d location %q, want 303 to /demo", again.status, again.location)
	}
}

func TestNewRejectsUnusableConfig(t *testing.T) {
	good := demo.Config{Issuer: "https://id.example", ClientID: "c", ClientSecret: "s", RedirectURL: "https://id.example/demo/callback"}
	tests := []struct {
		name   string
		change func(c *demo.Config)
	}{
		{"a relative issuer", func(c *demo.Config) { c.Issuer = "/issuer" }},
		{"an issuer with a query", func(c *demo.Config) { c.Issuer = "https://id.example?x=1" }},
		{"a redirect URL elsewhere than /demo/callback", func(c *demo.Config) { c.RedirectURL = "https://id.example/cb" }},
		{"a missing client secret", func(c *demo.Config) { c.ClientSecret = "" }},
		{"a missing client ID", func(c *demo.Config) { c.ClientID = "" }},
	}
	if _, err := demo.New(good); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.change(&c)
			if _, err := demo.New(c); !errors.Is(err, demo.ErrConfig) {
				t.Errorf("err = %v, want ErrConfig", err)
			}
		})
	}
}

func TestScopesAlwaysIncludeOpenID(t *testing.T) {
	op := newFakeOP(t)
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	h, err := demo.New(demo.Config{Issuer: op.issuer(), ClientID: op.clientID, ClientSecret: op.secret,
		RedirectURL: srv.URL + "/demo/callback", Scopes: []string{"profile"}, HTTPClient: op.srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	h.Register(mux)
	r := &rig{op: op, h: h, demoURL: srv.URL, browser: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	loc, _ := url.Parse(r.get(t, srv.URL+"/demo/login").location)
	if loc.Query().Get("scope") != "openid profile" {
		t.Errorf("scope %q", loc.Query().Get("scope"))
	}
}
