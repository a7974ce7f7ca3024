package web

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"eidp/idp/account"
	"eidp/idp/passkey"
	"eidp/idp/proofing"
	"eidp/idp/session"
	"eidp/internal/httpx"
	"eidp/internal/testenv"
)

// site is the pages on a real database, served over HTTP.
type site struct {
	*Server
	ts *httptest.Server
}

// newSite serves the pages on the database at dbURL; with, if given,
// changes the dependencies first (to wire in an OpenID Provider).
func newSite(t *testing.T, dbURL string, with ...func(*Deps)) *site {
	t.Helper()
	d := testenv.OpenDB(t, dbURL)
	reg, err := proofing.DemoRegister()
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	ts := httptest.NewUnstartedServer(nil)
	origin := "http://localhost:" + strings.Split(ts.Listener.Addr().String(), ":")[1]
	pk, err := passkey.New(d, passkey.Config{RPID: "localhost", RPDisplayName: "City eID", Origins: []string{origin}})
	if err != nil {
		t.Fatal(err)
	}
	deps := Deps{
		DB:       d,
		Proofer:  proofing.NewProofer(d, reg, proofing.Limits{}),
		Accounts: account.NewStore(d),
		Sessions: session.NewManager(d, session.Options{}),
		Passkeys: pk,
		Log:      slog.New(slog.DiscardHandler),
	}
	for _, f := range with {
		f(&deps)
	}
	s, err := New(deps, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Register(mux)
	ts.Config.Handler = httpx.Chain(mux, httpx.SecurityHeaders(httpx.SecurityHeaderOptions{}))
	ts.Start()
	t.Cleanup(ts.Close)
	return &site{Server: s, ts: ts}
}

// browser is an HTTP client with cookies, like a resident's browser.
func (st *site) browser(t *testing.T) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

// get fetches a page and returns its body and CSRF token.
func (st *site) get(t *testing.T, c *http.Client, path string, header ...string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", st.ts.URL+path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	token := ""
	if m := csrfMeta.FindSubmatch(b); m != nil {
		token = string(m[1])
	}
	return resp.StatusCode, string(b), token
}

func (st *site) postJSON(t *testing.T, c *http.Client, path, contentType, csrf, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", st.ts.URL+path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if csrf != "" {
		req.Header.Set(csrfHeader, csrf)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (st *site) postForm(t *testing.T, c *http.Client, path string, form url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := c.PostForm(st.ts.URL+path, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestEveryPageRendersInBothLanguages(t *testing.T) {
	st := newSite(t, testenv.SQLite(t))
	for _, lang := range []struct{ accept, tag, word string }{
		{"en-GB,en;q=0.9", "en", "Log in"},
		{"zh-HK,zh;q=0.9,en;q=0.5", "zh-Hant", "登入"},
	} {
		for _, path := range []string{"/", "/register", "/login", "/recover", "/logout/confirm", "/no-such-page"} {
			c := st.browser(t)
			code, body, _ := st.get(t, c, path, "Accept-Language", lang.accept)
			if (path == "/no-such-page") != (code == 404) {
				t.Errorf("%s %s: status %d", lang.tag, path, code)
			}
			if !strings.Contains(body, `<html lang="`+lang.tag+`">`) || !strings.Contains(body, lang.word) {
				t.Errorf("%s %s: not in that language:\n%s", lang.tag, path, body)
			}
			if strings.Contains(body, "!") && regexp.MustCompile(`![a-z_.]+!`).MatchString(body) {
				t.Errorf("%s %s: a message key has no text: %s", lang.tag, path, regexp.MustCompile(`![a-z_.]+!`).FindString(body))
			}
			if strings.Contains(body, "<script>") || strings.Contains(body, " onclick=") {
				t.Errorf("%s %s: inline script", lang.tag, path)
			}
		}
	}
}

func TestLanguageChoice(t *testing.T) {
	cases := []struct {
		name, query, cookie, accept, want string
	}{
		{"English by default", "", "", "", English},
		{"Accept-Language zh-TW means Traditional Chinese", "", "", "zh-TW", TraditionalChinese},
		{"Accept-Language weights are honoured", "", "", "zh-HK;q=0.4, en;q=0.8", English},
		{"the remembered toggle beats Accept-Language", "", "zh-Hant", "en", TraditionalChinese},
		{"ui_locales beats everything", "ui_locales=zh-Hant%20en", "en", "en", TraditionalChinese},
		{"an unknown ui_locales falls through", "ui_locales=fr", "", "zh-MO", TraditionalChinese},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/?"+tc.query, nil)
			if tc.cookie != "" {
				r.AddCookie(&http.Cookie{Name: langCookie, Value: tc.cookie})
			}
			if tc.accept != "" {
				r.Header.Set("Accept-Language", tc.accept)
			}
			if got := negotiateLanguage(r); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestLanguageToggleIsRememberedAndStaysOnSite(t *testing.T) {
	st := newSite(t, testenv.SQLite(t))
	c := st.browser(t)
	_, _, token := st.get(t, c, "/login")
	resp, _ := st.postForm(t, c, "/lang", url.Values{"csrf": {token}, "lang": {"zh-Hant"}, "next": {"//evil.example/x"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("redirect to %q (%d)", resp.Header.Get("Location"), resp.StatusCode)
	}
	if _, body, _ := st.get(t, c, "/login"); !strings.Contains(body, "使用通行密鑰登入") {
		t.Fatal("the toggle was not remembered")
	}
}

// Bad input to every endpoint gets a clear error and changes nothing.
func TestBadInputIsRefusedClearly(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(string(d.Engine), func(t *testing.T) {
			st := newSite(t, d.URL)
			c := st.browser(t)
			_, _, token := st.get(t, c, "/login")
			wrong := "A" + token[1:]
			if token[0] == 'A' {
				wrong = "B" + token[1:]
			}
			apis := []string{"/api/passkey/register/options", "/api/passkey/register", "/api/passkey/login/options",
				"/api/passkey/login", "/api/passkey/reauth/options", "/api/passkey/reauth"}
			for _, api := range apis {
				cases := []struct {
					name, ctype, csrf, body string
					status                  int
				}{
					{"wrong content type", "text/plain", token, "{}", http.StatusUnsupportedMediaType},
					{"missing CSRF token", "application/json", "", "{}", http.StatusForbidden},
					{"wrong CSRF token", "application/json", wrong, "{}", http.StatusForbidden},
					{"oversized body", "application/json", token, `{"response":"` + strings.Repeat("a", 70<<10) + `"}`, http.StatusRequestEntityTooLarge},
					{"malformed JSON", "application/json", token, `{"response":`, http.StatusBadRequest},
				}
				for _, tc := range cases {
					if strings.HasSuffix(api, "/options") && tc.name == "malformed JSON" && api != "/api/passkey/register/options" {
						continue // these take no body
					}
					status, body := st.postJSON(t, c, api, tc.ctype, tc.csrf, tc.body)
					if status != tc.status || !strings.Contains(body, `"error_description"`) {
						t.Errorf("%s, %s: %d %s (want %d)", api, tc.name, status, body, tc.status)
					}
				}
			}
			// An assertion for a challenge that was never issued.
			status, body := st.postJSON(t, c, "/api/passkey/login", "application/json", token,
				`{"response":{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"clientDataJSON":"e30","authenticatorData":"AAAA","signature":"AAAA"}}}`)
			if status != http.StatusBadRequest || !strings.Contains(body, "passkey") {
				t.Errorf("unknown challenge: %d %s", status, body)
			}
			// Registration without a proofed flow.
			status, _ = st.postJSON(t, c, "/api/passkey/register/options", "application/json", token, `{"purpose":"register"}`)
			if status != http.StatusForbidden {
				t.Errorf("registration options without proofing: %d", status)
			}
			// Forms without CSRF change nothing.
			resp, _ := st.postForm(t, c, "/register", url.Values{"id_number": {"A123456(3)"}, "birth_date": {"1985-04-12"}, "name": {"CHAN Tai Man"}})
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("register without CSRF: %d", resp.StatusCode)
			}
			var n int
			st.DB.QueryRow(`SELECT count(*) FROM residents`).Scan(&n)
			if n != 0 {
				t.Errorf("%d residents after bad input", n)
			}
		})
	}
}

func TestMaskIDNumber(t *testing.T) {
	for in, want := range map[string]string{"A1234563": "A123***(3)", "AB9876543": "AB987***(3)"} {
		if got := maskIDNumber(in); got != want {
			t.Errorf("%s → %s, want %s", in, got, want)
		}
	}
}

func TestLocalPathKeepsRedirectsOnSite(t *testing.T) {
	for in, want := range map[string]string{
		"/account": "/account", "//evil.example": "/", "https://evil.example/": "/", "/\\evil": "/", "": "/", "account": "/",
	} {
		if got := localPath(in); got != want {
			t.Errorf("%q → %q, want %q", in, got, want)
		}
	}
}
